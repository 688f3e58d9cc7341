"""``python -m todoke`` is the ``todoke`` command."""

from todoke.cli import main

main()
