"""APScheduler 3 with the memory job store: each job runs at a fixed interval.

APScheduler's persistent job stores can't be shared between processes, so the database holds the
state (the reminder ledger) and the scheduler holds only "run this every N seconds".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[], object]
    every_seconds: float


def build_scheduler(jobs: Sequence[Job]) -> BackgroundScheduler:
    """One interval job each; a run still going when the next is due is skipped, not stacked.
    APScheduler is imported here, by the processes that schedule (not the worker process)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
        timezone="UTC",
    )
    for job in jobs:
        scheduler.add_job(_guarded(job), "interval", seconds=job.every_seconds, id=job.name)
    return scheduler


def _guarded(job: Job) -> Callable[[], None]:
    def run() -> None:
        try:
            job.run()
        except Exception:  # a failed run is logged; the next interval tries again
            log.exception("scheduled job %s failed", job.name)

    return run
