"""Backend sync at scale: N linked tasks per task system, 1 % of them changed before each pass.

For each simulator (Struct PIM, Paymo, LINE WORKS, Maxsight) the bench puts N tasks in the
system and in taskbot's store (SQLite, migrated), then runs sync passes (``pull``) at simulated
60-second intervals, each after changing a share of the tasks there, and prints per pass: the
API calls (by operation where the limit is per operation), the wall time, the changes found,
the peak call rate the simulator saw, and the time the pass would take at the system's limit
(calls ÷ rate; per operation for LINE WORKS), against ``BACKEND_SYNC_SECONDS`` = 60.

Limits used (calls per second): Paymo 5 per 5 s (a third-party client's figure; Paymo publishes
none), LINE WORKS 60 per minute per operation (documented); Struct PIM and Maxsight document
none: 10 per second is assumed (Struct's client is held to it, ``STRUCT_PIM_RATE_LIMIT``).
"before" is the reading on main (every mirrored task read by id each pass); "after" is this
branch's (the list first, then reads by id only for what it missed, at most ``check_per_pass``).
With ``--real-limits``, the after-pass of Struct PIM (client at 10/s) and Paymo (client at 5 per
5 s, against a simulator that refuses past it) is also run with the limit on: its wall time, the
simulator's peak per window and refusals are printed.

    python -m bench.sync_scale [--tasks 10000] [--changed 0.01] [--passes 2]
                               [--backends struct_pim,paymo,lineworks,maxsight] [--real-limits]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from bot.backends import lineworks, maxsight, paymo, struct_pim
from bot.backends.http import ApiClient
from bot.backends.mirror import MirroredBackend
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import AssigneeKind, CompletionCondition, Status
from bot.domain.rates import Rate
from bot.keys import Keys
from storage.engine import make_engine, make_sessionmaker
from storage.external_versions import SqlAlchemyExternalVersions
from storage.link_states import SqlAlchemyLinkStates
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import upgrade_engine
from storage.oauth_tokens import SqlAlchemyOAuthTokens
from storage.sync_marks import SqlAlchemySyncMarks
from storage.tables import HandleCounterRow, PartRow, TaskRow, list_due
from storage.user_map import SqlAlchemyUserMap
from tests.stubs.lineworks_api import LineWorksSimulator
from tests.stubs.maxsight_api import MaxsightSimulator
from tests.stubs.paymo_api import PaymoSimulator
from tests.stubs.struct_pim_api import StructPimSimulator, struct_time

TEAM, BOSS = "T0BENCH", "UBOSS"
PEOPLE = 100  # linked people the tasks are spread over
SYNC_SECONDS = 60.0  # BACKEND_SYNC_SECONDS
UNLIMITED = Rate(calls=10**6, seconds=1.0)
LIMITS = {  # calls per second, and where the figure comes from
    "struct_pim": (10.0, "10/s assumed (undocumented)"),
    "paymo": (1.0, "5 per 5 s (third-party)"),
    "lineworks": (1.0, "60/min per operation (documented)"),
    "maxsight": (10.0, "10/s assumed (undocumented)"),
}


@dataclass
class Pass:
    calls: Counter[str]
    seconds: float
    changed: int
    found: int
    peak: float  # the most calls the simulator saw in its window, per second

    def at_limit(self, per_second: float, per_operation: bool) -> float:
        calls = max(self.calls.values(), default=0) if per_operation else self.total()
        return calls / per_second

    def total(self) -> int:
        return sum(self.calls.values())


@dataclass
class Recorder:
    """Counts the calls a simulator answers (by operation) and when."""

    stamps: list[float] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)

    def wrap(self, simulator: Any, op: Callable[[Any], str]) -> None:
        answer = simulator._answer

        def counted(request: Any, *args: Any) -> Any:
            self.stamps.append(time.monotonic())
            self.ops[op(request)] += 1
            return answer(request, *args)

        simulator._answer = counted

    def reset(self) -> None:
        self.stamps.clear()
        self.ops.clear()

    def peak(self, window: float) -> float:
        """The most calls in any window of ``window`` seconds, per second."""
        best, first = 0, 0
        for last, stamp in enumerate(self.stamps):
            while stamp - self.stamps[first] > window:
                first += 1
            best = max(best, last - first + 1)
        return best / window


def shape(path: str) -> str:
    """``GET /v1.0/tasks/abc`` → ``GET /tasks/{id}``: LINE WORKS' limit is per operation."""
    parts = path.removeprefix("/v1.0/").strip("/").split("/")
    return "/" + "/".join("{id}" if i % 2 else p for i, p in enumerate(parts))


def link_people(sessions: sessionmaker[Session], backend: str, ids: list[str]) -> None:
    SqlAlchemyUserMap(sessions).set_all(
        [
            UserLink(
                team_id=TEAM,
                backend=backend,
                slack_id=f"U{n:04d}",
                kind=AssigneeKind.USER,
                assignee_id=their,
                how=LinkHow.ADMIN,
                set_at=datetime.now(UTC),
            )
            for n, their in enumerate(ids)
        ]
    )


Seed = tuple[str, str, int, str]  # task id, title, linked person, description


def store_tasks(sessions: sessionmaker[Session], seeds: list[Seed]) -> None:
    """The mirrored tasks, written in bulk as ``storage.local_tasks`` keeps them (one part
    each, for a linked person; ``T-1`` on): the seeding is set-up, not what is measured."""
    now = datetime.now(UTC)
    tasks = [
        {
            "id": task_id,
            "team_id": TEAM,
            "number": n,
            "title": title,
            "description": description,
            "condition": CompletionCondition.ANY_ONE.value,
            "status": Status.NEW.value,
            "is_open": True,
            "list_due": list_due(None),
            "assignor": BOSS,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for n, (task_id, title, _, description) in enumerate(seeds, 1)
    ]
    parts = [
        {
            "task_id": task_id,
            "assignee_kind": AssigneeKind.USER.value,
            "assignee_id": f"U{person:04d}",
            "team_id": TEAM,
            "position": 0,
            "state": "TODO",
            "task_open": True,
            "list_due": list_due(None),
            "task_number": n,
        }
        for n, (task_id, _, person, _) in enumerate(seeds, 1)
    ]
    with sessions.begin() as session:
        session.execute(insert(TaskRow), tasks)
        session.execute(insert(PartRow), parts)
        session.execute(insert(HandleCounterRow), [{"team_id": TEAM, "last_number": len(seeds)}])


@contextmanager
def database() -> Iterator[sessionmaker[Session]]:
    memory = Path("/dev/shm")  # a file store without fsync cost: the seeding is not measured
    with tempfile.TemporaryDirectory(dir=memory if memory.is_dir() else None) as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade_engine(engine)
        try:
            yield make_sessionmaker(engine)
        finally:
            engine.dispose()


# --- the systems ------------------------------------------------------------------------------


class Case:
    """One task system with N mirrored tasks: seed, change some, build its backend."""

    name: str
    window = 1.0  # the simulator-side window the peak is measured in (seconds)

    def __init__(self, tasks: int, sessions: sessionmaker[Session]) -> None:
        self.tasks, self.sessions = tasks, sessions
        self.store = SqlAlchemyTaskStore(sessions)
        self.recorder = Recorder()
        self.ids: list[str] = []
        self.seeds: list[Seed] = []

    def stop(self) -> None: ...

    def seed(self) -> None: ...

    def change(self, ids: list[str], at: datetime) -> None: ...

    def backend(self, strategy: str) -> MirroredBackend:
        raise NotImplementedError

    def peak(self) -> float:
        return self.recorder.peak(self.window)


def legacy(backend: MirroredBackend) -> MirroredBackend:
    """The reading on main: no list; every mirrored task read by id each pass."""
    backend._listing = lambda now: None  # type: ignore[method-assign]
    backend.check_per_pass = None
    return backend


class StructCase(Case):
    name = "struct_pim"

    def __init__(self, tasks: int, sessions: sessionmaker[Session]) -> None:
        super().__init__(tasks, sessions)
        self.sim = StructPimSimulator().start()
        self.recorder.wrap(self.sim, lambda r: f"{r.method} {r.path.split('/')[2]}")

    def stop(self) -> None:
        self.sim.stop()

    def seed(self) -> None:
        people = [str(1000 + n) for n in range(PEOPLE)]
        for their in people:
            self.sim.add_user(their, f"p{their}@example.com")
        link_people(self.sessions, self.name, people)
        made = struct_time(datetime.now(UTC) - timedelta(days=7))
        for n in range(self.tasks):
            uid = str(uuid.uuid4())
            self.sim.tasks[uid] = {
                "Uid": uid,
                "Created": made,
                "CreatedBy": "1",
                "Deadline": None,
                "Title": f"Task {n}",
                "Description": "",
                "Status": 0,
                "AssignedUsers": [people[n % PEOPLE]],
                "AssignedUserGroups": [],
                "Comments": [],
                "AttachedEntities": [],
            }
            self.seeds.append((f"struct-{uid}", f"Task {n}", n % PEOPLE, ""))
            self.ids.append(uid)

    def change(self, ids: list[str], at: datetime) -> None:
        for uid in ids:
            self.sim.tasks[uid]["Title"] += " (edited)"

    def backend(self, strategy: str, rate: Rate = UNLIMITED) -> MirroredBackend:
        api = struct_pim.client(self.sim.url, "struct-key", rate=rate)
        made = struct_pim.StructPimBackend(
            api, self.store, SqlAlchemyUserMap(self.sessions), SqlAlchemySyncMarks(self.sessions)
        )
        return legacy(made) if strategy == "before" else made


class PaymoCase(Case):
    name = "paymo"
    window = 5.0

    def __init__(self, tasks: int, sessions: sessionmaker[Session], **limits: Any) -> None:
        super().__init__(tasks, sessions)
        self.sim = PaymoSimulator(**limits).start()
        self.recorder.wrap(self.sim, lambda r: f"{r.method} {r.path.split('/')[2]}")

    def stop(self) -> None:
        self.sim.stop()

    def seed(self) -> None:
        people = [241000 + n for n in range(PEOPLE)]
        for their in people:
            self.sim.add_user(their, f"p{their}@example.com")
        link_people(self.sessions, self.name, [str(p) for p in people])
        old = paymo_time(datetime.now(UTC) - timedelta(hours=3))
        for n in range(self.tasks):
            task_id = 500000 + n
            self.sim.tasks[task_id] = {
                "id": task_id,
                "name": f"Task {n}",
                "description": "",
                "complete": False,
                "due_date": None,
                "user_id": 1,
                "users": [people[n % PEOPLE]],
                "created_on": old,
                "updated_on": old,
            }
            self.seeds.append((f"paymo-{task_id}", f"Task {n}", n % PEOPLE, ""))
            self.ids.append(str(task_id))

    def change(self, ids: list[str], at: datetime) -> None:
        for task_id in ids:
            task = self.sim.tasks[int(task_id)]
            task["name"] += " (edited)"
            task["updated_on"] = paymo_time(at)

    def backend(self, strategy: str, rate: Rate = UNLIMITED) -> MirroredBackend:
        api = paymo.client(self.sim.url, "paymo-key", rate=rate)
        made = paymo.PaymoBackend(
            api,
            self.store,
            SqlAlchemyUserMap(self.sessions),
            project_id=7001,
            marks=SqlAlchemySyncMarks(self.sessions),
        )
        return legacy(made) if strategy == "before" else made

    def peak(self) -> float:
        return self.recorder.peak(self.window)


def paymo_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LineWorksCase(Case):
    name = "lineworks"
    window = 60.0

    def __init__(self, tasks: int, sessions: sessionmaker[Session]) -> None:
        super().__init__(tasks, sessions)
        self.sim = LineWorksSimulator(per_minute=10**7).start()
        self.sim.add_user("lw-operator", "operator@example.com")
        self.recorder.wrap(self.sim, lambda r: f"{r.method} {shape(r.path)}")

    def stop(self) -> None:
        self.sim.stop()

    def seed(self) -> None:
        people = [f"lw-{n}" for n in range(PEOPLE)]
        for their in people:
            self.sim.add_user(their, f"{their}@example.com")
        link_people(self.sessions, self.name, people)
        for n in range(self.tasks):
            task_id = str(uuid.uuid4())
            self.sim.tasks[task_id] = {
                "taskId": task_id,
                "title": f"Task {n}",
                "content": "",
                "assignorId": "lw-operator",
                "assignees": [{"assigneeId": people[n % PEOPLE], "status": "TODO"}],
                "completionCondition": "ANY_ONE",
                "dueDate": None,
                "status": "TODO",
                "categoryId": "default",
                "owner": "lw-operator",
            }
            self.seeds.append((f"lineworks-{task_id}", f"Task {n}", n % PEOPLE, ""))
            self.ids.append(task_id)

    def change(self, ids: list[str], at: datetime) -> None:
        for task_id in ids:
            self.sim.tasks[task_id]["title"] += " (edited)"

    def backend(self, strategy: str) -> MirroredBackend:
        tokens = lineworks.Tokens(
            ApiClient("LINE WORKS sign-in", self.sim.auth_url),
            SqlAlchemyOAuthTokens(self.sessions),
            Keys("bench-secret-key-" + "x" * 32),
            client_id="lw-client",
            client_secret="lw-secret",
            operator_refresh=self.sim.refresh_token_for("lw-operator"),
        )
        made = lineworks.LineWorksBackend(
            ApiClient("LINE WORKS", self.sim.api_url, detail=lineworks._detail),
            tokens,
            SqlAlchemyLinkStates(self.sessions),
            self.store,
            SqlAlchemyUserMap(self.sessions),
            auth_url=self.sim.auth_url,
            client_id="lw-client",
            public_url=None,
            rate=Rate(calls=10**7, seconds=60.0),
        )
        return legacy(made) if strategy == "before" else made

    def peak(self) -> float:
        return max(self.sim.peak.get(op, 0) for op in self.sim.peak) / self.window


class MaxsightCase(Case):
    name = "maxsight"

    def __init__(self, tasks: int, sessions: sessionmaker[Session]) -> None:
        super().__init__(tasks, sessions)
        self.sim = MaxsightSimulator().start()
        self.recorder.wrap(self.sim, lambda r: f"{r.method} {r.path.split('/')[2]}")

    def stop(self) -> None:
        self.sim.stop()

    def seed(self) -> None:
        people = [str(uuid.uuid4()) for _ in range(PEOPLE)]
        link_people(self.sessions, self.name, people)
        for n in range(self.tasks):
            task_id = self.sim.add_task(f"Task {n}", assigned_to=people[n % PEOPLE])
            raw = self.sim.tasks[task_id]
            self.seeds.append(
                (f"maxsight-{task_id}", f"Task {n}", n % PEOPLE, _mx_description(raw))
            )
            self.ids.append(task_id)

    def change(self, ids: list[str], at: datetime) -> None:
        for task_id in ids:
            self.sim.tasks[task_id]["name"] += " (edited)"

    def backend(self, strategy: str) -> MirroredBackend:
        made = maxsight.MaxsightBackend(
            maxsight.client(self.sim.url, "maxsight-key", rate=UNLIMITED),
            self.store,
            SqlAlchemyUserMap(self.sessions),
            SqlAlchemyExternalVersions(self.sessions),
        )
        return made  # main's reading; its intake sweep is another branch's


def _mx_description(raw: dict[str, Any]) -> str:
    return maxsight._description(raw)


CASES: dict[str, type[Case]] = {
    "struct_pim": StructCase,
    "paymo": PaymoCase,
    "lineworks": LineWorksCase,
    "maxsight": MaxsightCase,
}
STRATEGIES = {
    "struct_pim": ("before", "after"),
    "paymo": ("before", "after"),
    "lineworks": ("before", "after"),
    "maxsight": ("main",),
}


# --- the passes --------------------------------------------------------------------------------


def run_passes(case: Case, strategy: str, passes: int, share: float, start: datetime) -> list[Pass]:
    """A warm-up pass where a list sets its marks (not reported), then ``passes`` passes each
    after changing ``share`` of the tasks."""
    backend = case.backend(strategy)
    picker = random.Random(7)
    found: list[Pass] = []
    try:
        if backend.check_per_pass is not None or strategy == "after":
            backend.pull(start)
        for n in range(1, passes + 1):
            at = start + timedelta(seconds=SYNC_SECONDS * n)
            changed = picker.sample(case.ids, max(1, round(len(case.ids) * share)))
            case.change(changed, at)
            case.recorder.reset()
            began = time.perf_counter()
            pulled = backend.pull(at)
            seconds = time.perf_counter() - began
            found.append(
                Pass(Counter(case.recorder.ops), seconds, len(changed), len(pulled), case.peak())
            )
    finally:
        backend.close()
    return found


def report(name: str, strategy: str, passes: list[Pass]) -> None:
    rate, source = LIMITS[name]
    for n, one in enumerate(passes, 1):
        at_limit = one.at_limit(rate, per_operation=name == "lineworks")
        fits = "fits" if at_limit <= SYNC_SECONDS else "DOES NOT FIT"
        ops = ", ".join(f"{op} {count}" for op, count in sorted(one.calls.items()))
        print(
            f"{name:10} {strategy:6} pass {n}: {one.total():6d} calls ({ops}); "
            f"{one.seconds:6.2f} s wall; changes found {one.found}/{one.changed}; "
            f"peak {one.peak:7.1f}/s unthrottled; at {source}: {at_limit:7.1f} s → {fits} "
            f"in {SYNC_SECONDS:.0f} s"
        )
    walls = [p.seconds for p in passes]
    print(f"{name:10} {strategy:6} median wall {statistics.median(walls):.2f} s")


def at_the_limit(name: str, tasks: int, share: float) -> None:
    """One after-pass with the client's limit on (Paymo: against a simulator that also refuses
    past 5 calls per 5 s): its wall time, and the most calls the simulator saw in a window."""
    with database() as sessions:
        case: StructCase | PaymoCase
        if name == "paymo":
            case, rate = PaymoCase(tasks, sessions, limit=5, decay=5), Rate(calls=5, seconds=5.0)
        else:
            case, rate = StructCase(tasks, sessions), Rate(calls=10, seconds=1.0)
        try:
            case.seed()
            store_tasks(sessions, case.seeds)
            start = datetime.now(UTC) - timedelta(minutes=10)
            backend = case.backend("after", rate=rate)
            backend.pull(start)  # warm-up
            at = start + timedelta(seconds=SYNC_SECONDS)
            case.change(random.Random(3).sample(case.ids, round(tasks * share)), at)
            case.recorder.reset()
            began = time.perf_counter()
            pulled = backend.pull(at)
            seconds = time.perf_counter() - began
            backend.close()
            refused = f", refused {case.sim.rejected}" if isinstance(case, PaymoCase) else ""
            peak = case.recorder.peak(rate.seconds) * rate.seconds
            print(
                f"{name:10} limited pass: {sum(case.recorder.ops.values())} calls in "
                f"{seconds:.1f} s wall at {rate.calls} per {rate.seconds:g} s; changes found "
                f"{len(pulled)}; simulator peak {peak:.0f}"
                f" per {rate.seconds:g} s{refused}"
            )
        finally:
            case.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--backends", default=",".join(CASES))
    parser.add_argument("--real-limits", action="store_true")
    args = parser.parse_args()
    for name in args.backends.split(","):
        for strategy in STRATEGIES[name]:
            with database() as sessions:
                case = CASES[name](args.tasks, sessions)
                try:
                    began = time.perf_counter()
                    case.seed()
                    store_tasks(sessions, case.seeds)
                    seeded = time.perf_counter() - began
                    print(f"{name:10} {strategy:6} seeded {args.tasks} tasks in {seeded:.1f} s")
                    start = datetime.now(UTC) - timedelta(minutes=10)
                    report(
                        name, strategy, run_passes(case, strategy, args.passes, args.changed, start)
                    )
                finally:
                    case.stop()
    if args.real_limits:
        for name in ("struct_pim", "paymo"):
            if name in args.backends.split(","):
                at_the_limit(name, args.tasks, args.changed)


if __name__ == "__main__":
    main()
