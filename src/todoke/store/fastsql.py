"""Hot-path ``executemany`` without SQLAlchemy's per-row parameter processing.

The delivery engine writes several rows per message (events, attempts, parts, status updates),
hundreds per group commit. Through ``conn.execute(statement, list_of_dicts)`` SQLAlchemy
builds and processes a parameter dictionary per row, which the profile of the end-to-end
benchmark showed to be a large share of the commit loop's time (docs/performance.md). A
:class:`Batch` compiles its statement once per dialect, with SQLAlchemy (so the SQL, the
placeholders and PostgreSQL's casts are exactly what SQLAlchemy would send), and hands the
driver one tuple per row.

Only for statements whose parameters need no bind processing: integers, strings, None
and Python booleans, which both drivers adapt themselves (sqlite3 as 0/1, asyncpg to
``boolean``); no dates, no JSON: the callers guarantee it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable


class Batch:
    """One statement, compiled per dialect, executed with many rows of plain values.

    ``keys`` names the columns of an INSERT (the keys of every row); an UPDATE or DELETE
    takes its parameter names from its ``bindparam``s.
    """

    __slots__ = ("_compiled", "_keys", "_statement")

    def __init__(self, statement: Executable, keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._keys = list(keys) if keys is not None else None
        self._compiled: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}

    def compiled(self, dialect: Dialect) -> tuple[str, tuple[str, ...]]:
        """The SQL text for ``dialect`` and the parameter names in placeholder order."""
        key = (dialect.name, dialect.driver)
        found = self._compiled.get(key)
        if found is None:
            compiled = self._statement.compile(  # type: ignore[attr-defined]
                dialect=dialect, column_keys=self._keys
            )
            order = tuple(compiled.positiontup or ())
            if not order:
                raise ValueError("Batch needs a statement with positional parameters")
            found = self._compiled[key] = (compiled.string, order)
        return found

    async def execute(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute the statement once per row (one ``executemany``); nothing for no rows."""
        if not rows:
            return
        sql, order = self.compiled(conn.dialect)
        await conn.exec_driver_sql(sql, [tuple(row[k] for k in order) for row in rows])


def any_of(
    column: sa.ColumnElement[Any], values: Sequence[Any], dialect: Dialect
) -> sa.ColumnElement[bool]:
    """``column IN (values)`` for a look-up on the hot path that must stay an index search.

    On PostgreSQL the values are written into the statement as constants (SQLAlchemy quotes
    them), so that every execution is planned with what it has: a prepared ``IN ($1, …)`` or
    ``= ANY($1)`` ends under a generic plan after five runs, which knows neither how many
    values there are nor how large the table has grown since it was last analysed: the
    receipt look-up (``connector = $1 AND smsc_id = ANY($2)``) then read every part of the
    connector, 22 ms a call at 5,000 parts and growing. On SQLite the plain ``IN`` list.
    """
    if dialect.name != "postgresql":
        return column.in_(values)
    constants: sa.BindParameter[Any] = sa.bindparam(
        None, list(values), expanding=True, literal_execute=True
    )
    return column.in_(constants)
