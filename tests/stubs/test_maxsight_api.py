"""Contract tests of the Maxsight simulator's search (``POST /v5/tasks/search``), driven by the
backend's own client and filter model: the filters the intake sweep relies on answer as the docs
describe (API-NOTES.md §3.3), and what the docs call invalid is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.backends import maxsight
from bot.backends.http import ApiClient
from bot.domain.errors import InvalidInput
from tests.stubs.maxsight_api import MaxsightSimulator, maxsight_simulator

ANA, BEN, OPS = (f"{c}0000000-0000-4000-8000-00000000000{c}" for c in "abc")


@pytest.fixture(scope="module")
def sim() -> Iterator[MaxsightSimulator]:
    with maxsight_simulator("maxsight-key") as simulator:
        simulator.add_task("Ana 1", assigned_to=ANA)
        simulator.add_task("Ben 1", assigned_to=BEN)
        simulator.add_task("Ops 1", assigned_to=OPS, kind="TEAM")
        simulator.add_task("Ana done", assigned_to=ANA, status="COMPLETED_PASS")
        simulator.add_task("Nobody's")
        for n in range(2, 6):
            simulator.add_task(f"Ana {n}", assigned_to=ANA)
        yield simulator


@pytest.fixture
def api(sim: MaxsightSimulator) -> Iterator[ApiClient]:
    client = maxsight.client(sim.url, "maxsight-key", backoff=0.01)
    yield client
    client.close()


def search(api: ApiClient, model: Any, **body: Any) -> dict[str, Any]:
    answer = api.json(api.request("POST", "v5/tasks/search", json={"filter_model": model, **body}))
    assert isinstance(answer, dict)
    return answer


def names(answer: dict[str, Any]) -> set[str]:
    return {t["name"] for t in answer["items"]}


def test_equals_on_assigned_to_id_finds_that_queue(api: ApiClient) -> None:
    answer = search(api, maxsight.filter_model([BEN]))
    assert names(answer) == {"Ben 1"} and answer["next_page_token"] is None
    assert maxsight.filter_model([BEN])["assigned_to_id"] == {
        "filterType": "text",
        "type": "equals",
        "filter": BEN,
    }


def test_an_or_of_conditions_finds_every_queue_and_status_keeps_the_open_ones(
    api: ApiClient,
) -> None:
    every = search(api, maxsight.filter_model([ANA, BEN, OPS]))
    assert names(every) == {"Ana 1", "Ana 2", "Ana 3", "Ana 4", "Ana 5", "Ana done"} | {
        "Ben 1",
        "Ops 1",
    }
    assert "Ana done" not in names(search(api, maxsight.filter_model([ANA, OPS], open_only=True)))
    both = {"operator": "AND", "conditions": [{"filterType": "text", "type": "notBlank"}] * 2}
    assert "Nobody's" not in names(search(api, {"assigned_to_id": both}))


def test_pages_follow_the_token_until_there_is_none(api: ApiClient) -> None:
    model, seen, token, pages = maxsight.filter_model([ANA], open_only=True), [], None, 0
    while True:
        answer = search(api, model, max_page_size=2, page_token=token, sorting_field="CREATED_AT")
        seen += [t["name"] for t in answer["items"]]
        pages += 1
        token = answer["next_page_token"]
        if token is None:
            break
        assert isinstance(token, str)
    assert (pages, seen) == (3, ["Ana 1", "Ana 2", "Ana 3", "Ana 4", "Ana 5"])


@pytest.mark.parametrize(
    "model",
    [
        {"assigned_to_id": {"filterType": "text", "type": "sameAs", "filter": ANA}},
        {"assigned_to_id": {"filterType": "colour", "type": "equals", "filter": ANA}},
        {"assigned_to_id": {"operator": "XOR", "conditions": [{"filterType": "text"}]}},
        {"assigned_to_id": {"filterType": "text", "operator": "OR", "conditions": []}},
        {"status": {"filterType": "set"}},
    ],
)
def test_an_invalid_filter_is_a_request_error(api: ApiClient, model: Any) -> None:
    with pytest.raises(InvalidInput, match="Maxsight refused it: Invalid filter_model"):
        search(api, model)


def test_an_unknown_page_token_is_a_request_error(api: ApiClient) -> None:
    with pytest.raises(InvalidInput, match="Invalid page_token"):
        search(api, None, page_token="not-a-token")
