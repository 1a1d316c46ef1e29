"""The database's own INSERT, for ``ON CONFLICT`` (upserts, inserts that skip a key already there).

SQLAlchemy has no dialect-neutral ``ON CONFLICT``: each dialect has its own ``insert``. Each dialect
package is imported here, lazily, only for the database in use: ``sqlalchemy.dialects.postgresql``
drags in the dialect modules of every PostgreSQL driver (psycopg, psycopg2, pg8000, asyncpg …),
about 2.4 MB of RSS in every process that never talks to PostgreSQL. Imports SQLAlchemy only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import TableClause
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.orm import DeclarativeBase


def dialect_insert(
    dialect_name: str, table: TableClause | type[DeclarativeBase]
) -> postgresql.Insert | sqlite.Insert:
    """``insert(table)`` of the dialect named (``session.get_bind().dialect.name``,
    ``engine.dialect.name``): the one with ``on_conflict_do_nothing`` and ``…_do_update``."""
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert(table)
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    raise ValueError(f"taskbot runs on SQLite or PostgreSQL, not {dialect_name}")
