"""The store: SQLAlchemy engine, tables, repositories and alembic migrations.

Imports SQLAlchemy and ``bot.domain`` only. SQLite is the embedded default; PostgreSQL serves
several instances. Every repository method is scoped by workspace (Slack team id).
"""
