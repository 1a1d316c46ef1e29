"""What Maxsight's intake sweep costs per pass: API calls and seconds, at scale.

P linked people and G linked teams share T open tasks in the Maxsight simulator (a real local HTTP
server); taskbot's store is SQLite. Passes: (1) the first, taking every task in; (2) nothing
changed; (3) 1 % of the tasks changed in Maxsight (half reassigned between linked people, a
quarter to someone unlinked, a quarter completed); (4…) passes until one tells nothing (the
tasks that left every queue are read ``READS_PER_PASS`` a pass). For each: searches,
GETs, tasks told, seconds (taskbot and the simulator share this machine), and the shortest time
the pass can take within ``MAXSIGHT_RATE_LIMIT`` per ``MAXSIGHT_RATE_WINDOW_SECONDS`` (defaults:
60 per 60 s), which must stay under ``BACKEND_SYNC_SECONDS`` (60) for the steady passes.

    python -m bench.maxsight_sweep [--people 300] [--teams 20] [--tasks 10000] [--changed 0.01]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bot.backends import maxsight
from bot.domain.links import LinkHow, UserLink
from bot.domain.models import AssigneeKind
from storage.engine import make_engine, make_sessionmaker
from storage.external_versions import SqlAlchemyExternalVersions
from storage.local_tasks import SqlAlchemyTaskStore
from storage.migrate import upgrade_engine
from storage.user_map import SqlAlchemyUserMap
from tests.stubs.maxsight_api import MaxsightSimulator, maxsight_simulator

TEAM = "T1"
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
RATE, WINDOW, SYNC_SECONDS = 60, 60.0, 60.0


def uuid_of(kind: str, n: int) -> str:
    return f"{kind}{n:07x}-0000-4000-8000-000000000000"


def link(slack_id: str, kind: AssigneeKind, theirs: str) -> UserLink:
    return UserLink(
        team_id=TEAM,
        backend="maxsight",
        slack_id=slack_id,
        kind=kind,
        assignee_id=theirs,
        how=LinkHow.IMPORT,
        set_at=NOW,
    )


def fill(sim: MaxsightSimulator, people: int, teams: int, tasks: int) -> list[str]:
    queues = [uuid_of("a", n) for n in range(people)] + [uuid_of("c", n) for n in range(teams)]
    made = []
    for n in range(tasks):
        kind = "TEAM" if queues[n % len(queues)].startswith("c") else "USER"
        made.append(sim.add_task(f"Review {n}", assigned_to=queues[n % len(queues)], kind=kind))
    return made


def change(sim: MaxsightSimulator, made: list[str], share: float, people: int) -> int:
    count = max(4, int(len(made) * share))
    step = len(made) // count
    for i, task_id in enumerate(made[::step][:count]):
        if i % 4 in (0, 1):
            sim.assign_in_maxsight(task_id, to=uuid_of("a", (i + 7) % people), by=uuid_of("a", 1))
        elif i % 4 == 2:
            sim.assign_in_maxsight(task_id, to=uuid_of("e", i), by=uuid_of("a", 1))
        else:
            sim.tasks[task_id]["status"] = "COMPLETED_PASS"
            sim.tasks[task_id]["updated_at"] = sim._stamp()
    return count


def one_pass(
    sim: MaxsightSimulator, backend: maxsight.MaxsightBackend
) -> tuple[int, int, int, float]:
    before_post, before_get = len(sim.calls("POST")), len(sim.calls("GET"))
    started = time.perf_counter()
    told = len(backend.pull(NOW))
    seconds = time.perf_counter() - started
    return len(sim.calls("POST")) - before_post, len(sim.calls("GET")) - before_get, told, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, maxsight_simulator() as sim:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade_engine(engine)
        sessions = make_sessionmaker(engine)
        links = SqlAlchemyUserMap(sessions)
        links.set_all(
            [link(f"U{n:05d}", AssigneeKind.USER, uuid_of("a", n)) for n in range(args.people)]
            + [link(f"S{n:05d}", AssigneeKind.GROUP, uuid_of("c", n)) for n in range(args.teams)]
        )
        made = fill(sim, args.people, args.teams, args.tasks)
        backend = maxsight.MaxsightBackend(
            maxsight.client(sim.url, sim.api_key, read_timeout=60.0),
            SqlAlchemyTaskStore(sessions),
            links,
            SqlAlchemyExternalVersions(sessions),
        )
        print(
            f"{args.people} people + {args.teams} teams linked, {args.tasks} open tasks, "
            f"{maxsight.SEARCH_BATCH} ids a search, {maxsight.PAGE_SIZE} a page; "
            f"rate {RATE} per {WINDOW:.0f} s"
        )
        print(f"{'pass':<28}{'searches':>9}{'GETs':>6}{'told':>7}{'seconds':>9}{'at rate':>9}")
        names = ["1 take everything in", "2 nothing changed", "3 changed"]
        names += [f"{n} catching up" for n in range(4, 12)]
        for name in names:
            if name.startswith("3"):
                count = change(sim, made, args.changed, args.people)
                name = f"3 {count} changed ({args.changed:.0%})"
            posts, gets, told, seconds = one_pass(sim, backend)
            at_rate = (posts + gets) * WINDOW / RATE
            fits = "" if name.startswith("1") or at_rate <= SYNC_SECONDS else "  > BACKEND_SYNC"
            print(f"{name:<28}{posts:>9}{gets:>6}{told:>7}{seconds:>9.1f}{at_rate:>8.0f}s{fits}")
            if name.endswith("catching up") and told == 0:
                break  # a pass with nothing new tells nothing
        backend.close()
        engine.dispose()


if __name__ == "__main__":
    main()
