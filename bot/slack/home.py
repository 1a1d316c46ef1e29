"""App Home: my open tasks, tasks I assigned, overdue — published with views.publish.

After changes, Homes are refreshed by ``HomeRefresher``: changes that come close together
(a burst of Done clicks) cost one refresh per person, on one thread, so Home work never crowds
out the acknowledgements Slack waits for.
"""

from __future__ import annotations

import logging
import threading

from bot.domain.models import Actor, AssigneeKind, ListView, Task, TaskPage
from bot.slack.blocks.home import PER_SECTION, home_view
from bot.slack.deps import SlackDeps
from bot.slack.home_place import FIRST, START, HomePlace, Section, SectionPlace

log = logging.getLogger(__name__)


HOME_WAIT_SECONDS = 20.0  # for another process's publish of the same Home to finish


def publish_home(
    deps: SlackDeps, team_id: str, user_id: str, place: HomePlace | None = None
) -> None:
    """Build and publish one person's App Home: three list statements (each a page with its
    list's count; see ``_section`` for a kept page that ran past its end) and one views.publish.

    ``place``: the page of each section (a Previous / Next click). Without one, the Home is
    published at the place of its last publish, kept with the person's Home claim, so a
    refresh after a change leaves every section where it was (each first page when the store
    keeps no claims).

    Under the person's Home claim when the store has one (``deps.homes``): built after the claim
    is taken and published before it is released, so across processes a Home never goes back to
    an older state. If the claim can't be had in time, this publish is dropped: the holder
    publishes data at least as new as what this one would have read when it started waiting."""
    if deps.homes is None:
        _publish_home(deps, team_id, user_id, place or START)
        return
    with deps.homes.held(team_id, user_id, wait=HOME_WAIT_SECONDS) as held:
        if held is None:
            log.info("home publish skipped, another is running team=%s user=%s", team_id, user_id)
            return
        shown = _publish_home(deps, team_id, user_id, place or _kept(held.place))
        held.place = shown.encode()  # once published: the place the next refresh keeps


def _kept(place: str | None) -> HomePlace:
    """The place kept with the claim; each first page if there is none (or it can't be read:
    written by another version of taskbot)."""
    try:
        return HomePlace.decode(place) if place else START
    except ValueError:
        return START


SECTION_VIEWS: dict[Section, ListView] = {
    "mine": ListView.MINE,
    "assigned": ListView.ASSIGNED,
    "overdue": ListView.OVERDUE,
}


def _publish_home(deps: SlackDeps, team_id: str, user_id: str, place: HomePlace) -> HomePlace:
    """Publish the Home at ``place``; the place it was published at (see ``_section``)."""
    actor = Actor(team_id=team_id, user_id=user_id)
    pages: dict[Section, TaskPage] = {}
    for section, view in SECTION_VIEWS.items():
        shown, pages[section] = _section(deps, actor, view, place.of(section))
        place = place.moved(section, shown)
    home = home_view(
        **pages,
        viewer=user_id,
        capabilities=deps.service.capabilities,
        now=deps.clock(),
        place=place,
    )
    deps.clients(team_id).views_publish(user_id=user_id, view=home)
    return place


def _section(
    deps: SlackDeps, actor: Actor, view: ListView, place: SectionPlace
) -> tuple[SectionPlace, TaskPage]:
    """A section's page, one statement. A page that comes back empty although the list is not
    (every task after the place closed since it was paged to, say days ago) is replaced by the
    page before it, so a kept place never shows an empty section: two statements more, once,
    since the place kept then is the new one."""
    page = deps.service.list_page(
        actor, view, limit=PER_SECTION, after=place.after, before=place.before
    )
    if page or place == FIRST or page.total == 0:
        return place, page
    if place.after is None:  # nothing before the place any more: the first page
        return FIRST, deps.service.list_page(actor, view, limit=PER_SECTION)
    # The page that ends with the place's own task (before the key one past it: handle numbers
    # are integers), and nothing after it: that is what came back empty.
    edge = place.after.model_copy(update={"number": place.after.number + 1})
    page = deps.service.list_page(actor, view, limit=PER_SECTION, before=edge)
    last = TaskPage(page, total=page.total, more_before=page.more_before, more_after=False)
    return SectionPlace(before=edge), last


class HomeRefresher:
    """Republishes the Homes of the people a changed task concerns, coalescing bursts."""

    def __init__(self, deps: SlackDeps, *, delay: float = 1.0) -> None:
        self._deps = deps
        self._delay = delay
        self._pending: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, task: Task) -> None:
        users = {task.assignor} | {a.id for a in task.assignees if a.kind is AssigneeKind.USER}
        with self._lock:
            self._pending |= {(task.team_id, user) for user in users}
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="home", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait()
            self._stopped.wait(self._delay)  # let a burst of changes gather
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = sorted(self._pending), set()
            self._wake.clear()
        for team_id, user in batch:
            try:
                publish_home(self._deps, team_id, user)
            except Exception as exc:  # a stale Home is not worth more than a log line
                log.info("home refresh skipped team=%s user=%s: %s", team_id, user, exc)

    def close(self) -> None:
        """Publish what is pending, then stop."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
