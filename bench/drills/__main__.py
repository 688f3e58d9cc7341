"""``make drills``: every reliability drill, one verdict line each.

    python -m bench.drills [--database-url postgresql://…] [--quick]

Drills (each also runnable alone, see its module): ``crash`` (kill -9 of every todoke
process, three times, during a 20,000-message load), ``smsc`` (the SMSC disconnects and
restarts under load), ``webhooks`` (the webhook receiver down for two minutes, 10,000
messages), ``postgres`` (a private PostgreSQL cluster restarted under load; skipped without
the PostgreSQL server binaries). ``--quick``: 3,000 messages each (2,000 for webhooks),
shorter outages (a smoke test). Exit status 1 if any fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
from collections.abc import Callable
from glob import glob

from bench.drills import crash, postgres, smsc, webhooks
from bench.drills.common import Verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    url = args.database_url
    env_url = os.environ.get("TODOKE_DATABASE_URL", "")
    if url is None and env_url.startswith("postgres"):
        url = env_url
    n = 3_000 if args.quick else 20_000
    workers = 1 if (url or "").startswith("postgres") else 0
    drills: list[tuple[str, Callable[[], Verdict | None]]] = [
        ("crash", lambda: crash.run(url, messages=n, kills=3, workers=workers, timeout=600)),
        ("smsc", lambda: smsc.run(url, messages=n, rate=300, down=5, timeout=600)),
        (
            "webhooks",
            lambda: webhooks.run(
                url, messages=2_000 if args.quick else 10_000, down=10 if args.quick else 120
            ),
        ),
        ("postgres", lambda: _postgres(n, args.quick)),
    ]
    failed = False
    for name, drill in drills:
        try:
            verdict = drill()
        except Exception as exc:  # a drill that cannot run says so, and the others still run
            print(f"{name} drill: ERROR {type(exc).__name__}: {exc}", flush=True)
            failed = True
            continue
        if verdict is not None:
            print(verdict.line(), flush=True)
            failed |= not verdict.ok
    raise SystemExit(1 if failed else 0)


def _postgres(messages: int, quick: bool) -> Verdict | None:
    if not glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("initdb") is None:
        print("PostgreSQL drill: SKIPPED (no initdb/pg_ctl: install the PostgreSQL server)")
        return None
    return postgres.run(messages=messages, rate=300, down=5 if quick else 10, timeout=600)


if __name__ == "__main__":
    main()
