"""manifest.yml passes Slack's manifest schema and declares exactly what the app handles."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from bot.slack import ids

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "tests/fixtures/manifest/manifest.schema.1.0.0.json").read_text())


def load_manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "manifest.yml").read_text()))


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(manifest)]


def manifest_mismatches(
    manifest: dict[str, Any],
    *,
    commands: set[str],
    shortcuts: set[str],
    events: set[str],
    interactivity_needed: bool,
) -> list[str]:
    """Differences between what the manifest declares and what the app registers."""
    features = manifest.get("features", {})
    settings = manifest.get("settings", {})
    declared = {
        "command": {c["command"] for c in features.get("slash_commands", [])},
        "shortcut": {s["callback_id"] for s in features.get("shortcuts", [])},
        "event": set(settings.get("event_subscriptions", {}).get("bot_events", [])),
    }
    registered = {"command": commands, "shortcut": shortcuts, "event": events}
    problems = []
    for kind in declared:
        for name in sorted(registered[kind] - declared[kind]):
            problems.append(f"{kind} {name} is handled by the app but not in manifest.yml")
        for name in sorted(declared[kind] - registered[kind]):
            problems.append(f"{kind} {name} is in manifest.yml but the app doesn't handle it")
    if interactivity_needed and not settings.get("interactivity", {}).get("is_enabled"):
        problems.append("the app has buttons and modals but interactivity is off")
    return problems


def test_manifest_passes_slacks_schema() -> None:
    assert schema_errors(load_manifest()) == []


def test_schema_check_can_fail() -> None:
    manifest = copy.deepcopy(load_manifest())
    manifest["features"]["shortcuts"][0]["name"] = "x" * 30  # Slack allows 24
    assert schema_errors(manifest)


def test_manifest_declares_the_ids_module() -> None:
    assert (
        manifest_mismatches(
            load_manifest(),
            commands={ids.COMMAND},
            shortcuts={ids.SHORTCUT_FROM_MESSAGE},
            events={ids.EVENT_APP_HOME_OPENED},
            interactivity_needed=True,
        )
        == []
    )


def test_mismatch_is_reported_both_ways() -> None:
    problems = manifest_mismatches(
        load_manifest(),
        commands={ids.COMMAND, "/other"},
        shortcuts=set(),
        events={ids.EVENT_APP_HOME_OPENED},
        interactivity_needed=True,
    )
    assert "command /other is handled by the app but not in manifest.yml" in problems
    assert any(ids.SHORTCUT_FROM_MESSAGE in p and "doesn't handle" in p for p in problems)


@pytest.mark.parametrize(
    "scope",
    [
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "usergroups:read",
        "channels:read",
        "groups:read",
    ],
)
def test_scopes_the_code_needs_are_requested(scope: str) -> None:
    assert scope in load_manifest()["oauth_config"]["scopes"]["bot"]


def test_slash_command_escapes_mentions() -> None:
    (command,) = load_manifest()["features"]["slash_commands"]
    assert command["should_escape"] is True
