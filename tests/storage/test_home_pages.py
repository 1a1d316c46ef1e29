"""App Home sections page on their own with Previous / Next (issue 13): every task appears once
across a section's pages even while tasks change between views, a turn keeps the other sections
where they were, and a paged Home is still at most four statements."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.backends.local import LocalBackend
from bot.domain.models import Assignee, Due, TaskDraft
from bot.service.tasks import TaskService
from bot.slack import ids
from bot.slack.deps import SlackDeps
from bot.slack.home import publish_home
from bot.slack.home_place import SECTIONS, START, HomePlace, Section
from storage.home_claims import SqlAlchemyHomeClaims
from storage.local_tasks import SqlAlchemyTaskStore
from tests.fakes import FakeClock, FakeDirectory, FakeNotifier
from tests.storage.test_list_pages import Publisher, statements

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
TEAM, ANA, BOSS, BEN = "T1", "UANA", "UBOSS", "UBEN"
EACH = 23  # assigned to Ana, and by her: three pages of ten a section


def draft(assignor: str, assignee: str, rng: random.Random) -> TaskDraft:
    due = Due(date=(NOW + timedelta(days=rng.randint(-20, 20))).date())
    return TaskDraft(
        team_id=TEAM,
        assignor=assignor,
        title="job",
        due=due if rng.random() < 0.8 else None,
        assignees=(Assignee.user(assignee),),
    )


def sections(view: dict[str, Any]) -> dict[Section, tuple[list[str], dict[str, str]]]:
    """Each section's handles and its Previous / Next buttons (action_id → value)."""
    found: dict[Section, tuple[list[str], dict[str, str]]] = {}
    headers = iter(SECTIONS)
    current: tuple[list[str], dict[str, str]] = ([], {})
    for block in view["blocks"]:
        if block["type"] == "header":
            current = found[next(headers)] = ([], {})
        elif block["type"] == "section":
            current[0].append(block["text"]["text"].split("*")[1])
        elif block["type"] == "actions":
            turns = (ids.ACTION_HOME_PREVIOUS, ids.ACTION_HOME_NEXT)
            current[1].update(
                {e["action_id"]: e["value"] for e in block["elements"] if e["action_id"] in turns}
            )
    return found


def test_home_sections_page_every_task_once_while_tasks_change(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    rng = random.Random(13)
    store = SqlAlchemyTaskStore(sessions)
    created = NOW - timedelta(days=30)  # so that any due is valid
    for _ in range(EACH):
        store.create(draft(BOSS, ANA, rng), created)
        store.create(draft(ANA, BEN, rng), created)
    service = TaskService(LocalBackend(sessions), FakeNotifier(), FakeDirectory(), FakeClock(NOW))
    slack = Publisher()
    deps = SlackDeps(
        service=service,
        directory=cast(Any, FakeDirectory()),
        clients=lambda _team: cast(Any, slack),
        clock=FakeClock(NOW),
        jobs=cast(Any, None),
    )

    most = 4

    def home(place: HomePlace) -> dict[Section, tuple[list[str], dict[str, str]]]:
        with statements(engine) as seen:
            publish_home(deps, TEAM, ANA, place)
        assert len(seen) <= most, seen
        view = slack.views[-1].to_dict()
        assert len(view["blocks"]) <= 100
        return sections(view)

    def walk(section: Section, place: HomePlace, between: Any = None) -> tuple[list[str], str]:
        """Next from ``place`` to the section's last page; the handles and the last place."""
        seen: list[str] = []
        for _ in range(20):  # a section that never ends fails, not hangs
            shown = home(place)
            handles, turns = shown[section]
            seen += handles
            if between is not None:
                between()
            if ids.ACTION_HOME_NEXT not in turns:
                return seen, place.encode()
            following = HomePlace.decode(turns[ids.ACTION_HOME_NEXT])
            others = [s for s in SECTIONS if s != section]
            assert [following.of(s) for s in others] == [place.of(s) for s in others]
            place = following
        raise AssertionError(f"{section} never ended")

    first = home(START)
    mine, at_end = walk("mine", START)
    assert len(mine) == len(set(mine)) == EACH and mine[:10] == first["mine"][0]
    # Paging "assigned" keeps "mine" on its last page.
    assigned, _ = walk("assigned", HomePlace.decode(at_end))
    assert len(assigned) == len(set(assigned)) == EACH
    assert home(HomePlace.decode(at_end))["mine"][0] == mine[20:]

    back: list[str] = []  # Previous from the last page: the same order
    place = HomePlace.decode(at_end)
    while True:
        handles, turns = home(place)["mine"]
        back = handles + back
        if ids.ACTION_HOME_PREVIOUS not in turns:
            break
        place = HomePlace.decode(turns[ids.ACTION_HOME_PREVIOUS])
    assert back == mine

    gone: set[str] = set()
    new: set[str] = set()

    def change() -> None:  # one of Ana's tasks deleted, one made for her, per view
        handle = rng.choice(mine)
        if handle not in gone:
            store.delete(TEAM, handle, store.get(TEAM, handle).version, NOW)
            gone.add(handle)
        new.add(store.create(draft(BOSS, ANA, rng), created).handle)

    most = 5  # a page whose every later task went meanwhile: its count and the page before
    seen, _ = walk("mine", START, change)
    assert len(seen) == len(set(seen))  # nothing twice
    assert set(mine) - gone <= set(seen)  # nothing unchanged missed
    assert set(seen) <= set(mine) | new


def test_a_refresh_keeps_the_place_of_the_last_turn(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    rng = random.Random(14)
    store = SqlAlchemyTaskStore(sessions)
    for _ in range(EACH):
        store.create(draft(BOSS, ANA, rng), NOW - timedelta(days=30))
    service = TaskService(LocalBackend(sessions), FakeNotifier(), FakeDirectory(), FakeClock(NOW))
    slack = Publisher()
    deps = SlackDeps(
        service=service,
        directory=cast(Any, FakeDirectory()),
        clients=lambda _team: cast(Any, slack),
        clock=FakeClock(NOW),
        jobs=cast(Any, None),
        homes=SqlAlchemyHomeClaims(sessions),
    )
    publish_home(deps, TEAM, ANA)  # opened: each first page
    first, turns = sections(slack.views[-1].to_dict())["mine"]
    publish_home(deps, TEAM, ANA, HomePlace.decode(turns[ids.ACTION_HOME_NEXT]))
    second = sections(slack.views[-1].to_dict())["mine"][0]
    assert len(second) == 10 and not set(first) & set(second)
    publish_home(deps, TEAM, ANA)  # a refresh after a change: the same page
    assert sections(slack.views[-1].to_dict())["mine"][0] == second


def test_a_kept_page_whose_tasks_all_closed_shows_the_page_before(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    rng = random.Random(15)
    store = SqlAlchemyTaskStore(sessions)
    for _ in range(EACH):
        store.create(draft(BOSS, ANA, rng), NOW - timedelta(days=30))
    service = TaskService(LocalBackend(sessions), FakeNotifier(), FakeDirectory(), FakeClock(NOW))
    slack = Publisher()
    deps = SlackDeps(
        service=service,
        directory=cast(Any, FakeDirectory()),
        clients=lambda _team: cast(Any, slack),
        clock=FakeClock(NOW),
        jobs=cast(Any, None),
        homes=SqlAlchemyHomeClaims(sessions),
    )
    publish_home(deps, TEAM, ANA)
    pages = [sections(slack.views[-1].to_dict())["mine"]]
    while ids.ACTION_HOME_NEXT in pages[-1][1]:
        publish_home(deps, TEAM, ANA, HomePlace.decode(pages[-1][1][ids.ACTION_HOME_NEXT]))
        pages.append(sections(slack.views[-1].to_dict())["mine"])
    assert [len(p[0]) for p in pages] == [10, 10, EACH - 20]
    for handle in pages[-1][0]:  # the last page's tasks all closed, days later
        store.delete(TEAM, handle, store.get(TEAM, handle).version, NOW)
    with statements(engine) as seen:
        publish_home(deps, TEAM, ANA)  # opened again: the kept place is past the end
    assert len(seen) <= 8, seen  # claim (3), lists (3), that section's count and page before
    shown, turns = sections(slack.views[-1].to_dict())["mine"]
    assert shown == pages[1][0] and set(turns) == {ids.ACTION_HOME_PREVIOUS}
    publish_home(deps, TEAM, ANA)  # the place kept now is that page's
    assert sections(slack.views[-1].to_dict())["mine"][0] == pages[1][0]
