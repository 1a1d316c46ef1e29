"""What the worker process imports: the composition root without the packages only other roles
use (alembic migrates, cryptography seals secrets, uvicorn serves HTTP, APScheduler schedules),
each several MB in every process that loads it (README, "Memory of `taskbot run`")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
ROLE_ONLY = ("alembic", "cryptography", "uvicorn", "apscheduler")


def test_the_composition_root_imports_no_package_that_only_another_role_needs() -> None:
    probe = (
        "import sys, bot.bootstrap, storage.migrate; "
        "storage.migrate.head_revision(); "
        f"print(','.join(m for m in {ROLE_ONLY!r} if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert found.stdout.strip() == ""


def test_a_worker_process_never_imports_slack_bolt(tmp_path: Path) -> None:
    """A worker runs jobs with slack_sdk alone: Bolt (3 MB) is for the process that answers
    Slack's requests. Built as ``taskbot run``'s worker process builds itself."""
    url = f"sqlite:///{tmp_path}/worker.db"
    probe = (
        "import sys; from storage.engine import make_engine; "
        "from storage.migrate import upgrade_engine; "
        f"upgrade_engine(make_engine({url!r})); "
        "from bot.config import Settings; from bot.bootstrap import serve_worker; "
        "worker = serve_worker(Settings()); worker.wake(); worker.close(); "
        "print(','.join(m for m in ('slack_bolt', *ROLE_ONLY) if m in sys.modules))"
    ).replace("ROLE_ONLY", repr(ROLE_ONLY[1:]))  # alembic: this probe migrates the database
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": url,
        "SLACK_BOT_TOKEN": "xoxb-lean-imports",
        "SLACK_SIGNING_SECRET": "lean-imports",
    }
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == ""
