"""Lists page by keyset with true counts, in few statements (issue 13): every task appears once
across pages even while tasks change between page views; Home is three statements, a list one."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from bench.list_store import HEAVY, HEAVY_OPEN, TEAMS, TYPICAL, seed
from bot.backends.local import LocalBackend
from bot.domain.models import (
    Actor,
    Assignee,
    Due,
    ListView,
    PageKey,
    TaskDraft,
    TaskPage,
    TaskQuery,
)
from bot.service.tasks import TaskService
from bot.slack import ids
from bot.slack.deps import SlackDeps
from bot.slack.home import publish_home
from bot.slack.home_place import SECTIONS, HomePlace
from storage.local_tasks import SqlAlchemyTaskStore
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TEAM = TEAMS[0]


def query(**fields: Any) -> TaskQuery:
    base: dict[str, Any] = {"team_id": TEAM, "view": ListView.INVOLVED, "user_id": HEAVY}
    return TaskQuery(**(base | {"now": NOW, "limit": 400} | fields))


def forward(store: SqlAlchemyTaskStore, between: Any = None) -> list[str]:
    """Every page from the first, ``between`` run after each."""
    seen: list[str] = []
    page = store.list(query())
    while True:
        seen += [t.handle for t in page]
        if between is not None:
            between()
        if not page.more_after:
            return seen
        page = store.list(query(after=PageKey.of(page[-1])))


def test_pages_hold_every_task_once_while_tasks_change(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    seed(engine, 5_000, 200, NOW)
    store = SqlAlchemyTaskStore(sessions)
    listed = forward(store)
    assert len(listed) == len(set(listed)) == store.list(query()).total >= 2 * HEAVY_OPEN

    page = store.list(query(after=PageKey.of(store.get(TEAM, listed[-2]))))
    backwards: list[str] = []
    while True:  # Previous from the last page: the same order
        backwards = [t.handle for t in page] + backwards
        if not page.more_before:
            break
        page = store.list(query(before=PageKey.of(page[0])))
    assert backwards == listed
    past_end = store.list(query(after=PageKey.of(store.get(TEAM, listed[-1]))))
    assert list(past_end) == [] and past_end.total == len(listed)

    rng = random.Random(7)
    gone: set[str] = set()
    new: set[str] = set()

    def change() -> None:  # one task completed somewhere, one made somewhere, per page view
        handle = rng.choice(listed)
        if handle not in gone:
            task = store.get(TEAM, handle)
            store.delete(TEAM, handle, task.version, NOW)
            gone.add(handle)
        due = Due(date=(NOW + timedelta(days=rng.randint(-60, 60))).date())
        draft = TaskDraft(
            team_id=TEAM,
            assignor="UBOSS",
            title="new",
            due=due if rng.random() < 0.8 else None,
            assignees=(Assignee.user(HEAVY),),
        )
        new.add(store.create(draft, NOW - timedelta(days=61)).handle)  # any due is valid then

    seen = forward(store, change)
    assert len(seen) == len(set(seen))  # nothing twice
    assert set(listed) - gone <= set(seen)  # nothing unchanged missed
    assert set(seen) <= set(listed) | new


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


class Publisher:
    def __init__(self) -> None:
        self.views: list[Any] = []

    def views_publish(self, *, user_id: str, view: Any) -> None:
        self.views.append(view)


def test_home_is_three_statements_and_a_list_one_with_true_counts(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    seed(engine, 5_000, 200, NOW)
    service = TaskService(LocalBackend(sessions), FakeNotifier(), FakeDirectory(), FakeClock(NOW))
    slack = Publisher()
    deps = SlackDeps(
        service=service,
        directory=cast(Any, FakeDirectory()),
        clients=lambda _team: cast(Any, slack),
        clock=FakeClock(NOW),
        jobs=cast(Any, None),
    )
    for who in (HEAVY, TYPICAL):
        with statements(engine) as home:
            publish_home(deps, TEAM, who)
        assert len(home) <= 4, home
        blocks = slack.views[-1].to_dict()["blocks"]
        assert len(blocks) < 100
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers[0] == "My open tasks (10)" and headers[1] == "Tasks I assigned (10)"
    heavy = slack.views[0].to_dict()["blocks"]
    assert f"My open tasks ({HEAVY_OPEN})" in [b.get("text", {}).get("text") for b in heavy]
    nexts = [
        HomePlace.decode(e["value"])
        for b in heavy
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == ids.ACTION_HOME_NEXT
    ]
    paged = HomePlace(**{s: p.of(s) for s, p in zip(SECTIONS, nexts, strict=True)})
    with statements(engine) as home:  # every section on its second page
        publish_home(deps, TEAM, HEAVY, paged)
    assert len(home) <= 4, home
    second = slack.views[-1].to_dict()["blocks"]
    assert len(second) < 100 and second != heavy

    actor = Actor(team_id=TEAM, user_id=HEAVY)
    for view in (ListView.MINE, ListView.ASSIGNED, ListView.OVERDUE, ListView.INVOLVED):
        with statements(engine) as listing:
            page = service.list_page(actor, view)
        assert len(listing) <= 2, listing
        assert isinstance(page, TaskPage) and len(page) == 50 and page.total > 50
