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
