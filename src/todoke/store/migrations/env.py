"""Alembic environment: always runs on a connection handed in by todoke.

``todoke migrate`` and ``todoke serve`` call :meth:`todoke.store.database.Database.migrate`, which
opens the connection (async driver) and passes its sync facade here.
"""

from __future__ import annotations

from alembic import context

from todoke.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs bare `alembic`
    raise RuntimeError("run migrations with `todoke migrate`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
