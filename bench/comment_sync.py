"""What comments both ways cost a sync pass, on the Paymo and Struct PIM simulators.

Mirrors N tasks per backend (put straight into the simulator and taskbot's store, SQLite), writes
a comment there on 1 % of them, then runs one pass (``pull``) and a second, quiet one. Prints the
API calls per pass by path, the wall time with the simulator unthrottled, and what the calls cost
at Paymo's documented-by-clients budget of 5 requests per 5 s (one call a second).

    python -m bench.comment_sync [--tasks 10000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from bot.backends import paymo, struct_pim
from bot.backends.mirror import MirroredBackend
from bot.domain.models import Assignee, Part, Task
from storage.engine import make_engine, make_sessionmaker
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import upgrade_engine
from storage.user_map import SqlAlchemyUserMap
from tests.stubs.paymo_api import PaymoSimulator
from tests.stubs.struct_pim_api import StructPimSimulator, struct_time

TEAM, BOSS, ANA = "T1", "UBOSS", "UANA"
Case = tuple[MirroredBackend, Callable[[int], None], PaymoSimulator | StructPimSimulator]
NOW = datetime.now(UTC)


def sessions_for(directory: Path, name: str) -> sessionmaker[Session]:
    engine = make_engine(f"sqlite:///{directory / name}.db")
    upgrade_engine(engine)
    return make_sessionmaker(engine)


def adopt(store: SqlAlchemyTaskStore, task_id: str) -> None:
    def build(handle: str) -> Task:
        return Task(
            team_id=TEAM,
            id=task_id,
            handle=handle,
            title="Bench task",
            assignor=BOSS,
            parts=(Part(assignee=Assignee.user(ANA)),),
            created_at=NOW,
            updated_at=NOW,
        )

    store.adopt(TEAM, task_id, build)


def paymo_case(directory: Path, tasks: int) -> Case:
    sim = PaymoSimulator(limit=10**9).start()
    sessions = sessions_for(directory, "paymo")
    store = SqlAlchemyTaskStore(sessions)
    ids = []
    for n in range(tasks):
        number = 100_000 + n
        sim.tasks[number] = {
            "id": number,
            "name": "Bench task",
            "project_id": 7001,
            "tasklist_id": 8001,
            "description": "",
            "complete": False,
            "due_date": None,
            "users": [],
            "user_id": 1,
            "created_on": "2026-12-03T08:00:00Z",
            "updated_on": "2026-12-03T08:00:00Z",
        }
        adopt(store, f"paymo-{number}")
        ids.append(number)
    backend = paymo.PaymoBackend(
        paymo.client(sim.url, "paymo-key"), store, SqlAlchemyUserMap(sessions), project_id=7001
    )

    def comment(i: int) -> None:
        sim.add_comment(ids[i], 1, "<p>Written in Paymo</p>")

    return backend, comment, sim


def struct_case(directory: Path, tasks: int) -> Case:
    sim = StructPimSimulator().start()
    sessions = sessions_for(directory, "struct")
    store = SqlAlchemyTaskStore(sessions)
    uids = []
    for _ in range(tasks):
        uid = str(uuid.uuid4())
        sim.tasks[uid] = {
            "Uid": uid,
            "Created": struct_time(),
            "CreatedBy": "1",
            "Deadline": None,
            "Title": "Bench task",
            "Description": "",
            "Status": 0,
            "AssignedUsers": [],
            "AssignedUserGroups": [],
            "Comments": [],
            "AttachedEntities": [],
        }
        adopt(store, f"struct-{uid}")
        uids.append(uid)
    backend = struct_pim.StructPimBackend(
        struct_pim.client(sim.url, "struct-key"), store, SqlAlchemyUserMap(sessions)
    )

    def comment(i: int) -> None:
        sim.add_comment(uids[i], "1", "Written in the PIM")

    return backend, comment, sim


def run(name: str, make: Callable[[Path, int], Case], tasks: int, changed: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        backend, comment, sim = make(Path(directory), tasks)
        try:
            backend.pull(NOW)  # the first pass after the upgrade: nothing to tell
            every = max(1, round(1 / changed))
            for i in range(0, tasks, every):
                comment(i)
            for label in ("1 % commented", "quiet"):
                sim.requests.clear()
                started = time.perf_counter()
                pulled = backend.pull(NOW + timedelta(minutes=1))
                took = time.perf_counter() - started
                calls = Counter(r.path for r in sim.requests)
                total = sum(calls.values())
                print(
                    f"{name} {tasks} tasks, pass {label}: {len(pulled)} changed, {total} calls "
                    f"({dict(calls)}), {took:.1f} s unthrottled, "
                    f"{total:.0f} s at one call a second (Paymo: 5 per 5 s)"
                )
        finally:
            backend.close()
            sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    run("paymo", paymo_case, args.tasks, args.changed)
    run("struct_pim", struct_case, args.tasks, args.changed)


if __name__ == "__main__":
    main()
