"""A taskbot process loads only its own database's SQLAlchemy dialect.

``sqlalchemy.dialects.postgresql`` brings every PostgreSQL driver's dialect module along (2.4 MB
of RSS per process); a process on SQLite, the embedded default, must never import it, nor one on
PostgreSQL the SQLite dialect. A fresh interpreter is the only place to see what gets imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import func, select

from storage.engine import make_engine
from storage.tables import JobRow

PROCESS = """
import json, pkgutil, sys
from datetime import UTC, datetime
import bot, storage
from bot.bootstrap import build_app
from bot.config import Settings
from storage.job_intake import GroupCommit
from storage.job_ledger import NewJob, SqlAlchemyJobLedger, insert_jobs

for package in (bot, storage):  # every module a role may import, at import time
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not module.name.startswith(("storage.migrations", "bot.__main__")):
            __import__(module.name)
settings = Settings(
    _env_file=None,
    DATABASE_URL=sys.argv[1],
    SLACK_BOT_TOKEN="xoxb-test",
    SLACK_SIGNING_SECRET="secret",
    SLACK_API_URL="http://127.0.0.1:9/api/",
)
app = build_app(settings, token_verification=False, worker=False)  # the schema is current
now = datetime.now(UTC)
SqlAlchemyJobLedger(app.sessions).enqueue(NewJob("k", "one", "{}"), now)
with app.sessions.begin() as session:
    insert_jobs(session, [NewJob("k", "two", "{}"), NewJob("k", "three", "{}")], now)
intake = GroupCommit(app.engine)
intake.add("k", "four", "{}")
intake.close()
app.close()
print(json.dumps(sorted(name for name in sys.modules if name.startswith("sqlalchemy.dialects."))))
"""

OTHER = {"sqlite": "sqlalchemy.dialects.postgresql", "postgresql": "sqlalchemy.dialects.sqlite"}


def test_a_process_imports_only_its_own_databases_dialect(database_url: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", PROCESS, database_url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout.splitlines()[-1])
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(JobRow)) == 4
        other = OTHER[engine.dialect.name]
    finally:
        engine.dispose()
    assert [name for name in loaded if name.startswith(other)] == []
