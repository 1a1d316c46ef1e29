"""The secret key and the other secrets (issue 12, finding 3): strong keys only, one derived key
per purpose (HKDF), rotation with an old key, and no blank secret at start."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot import keys
from bot.config import SettingsError, load_settings
from bot.keys import Keys, UnreadableSecret
from storage.engine import make_engine, make_sessionmaker
from storage.migrate import upgrade_engine
from storage.oauth_tokens import SqlAlchemyOAuthTokens, StoredTokens
from tests import test_cli
from tests.test_cli import run

clean_env = test_cli.clean_env  # the fixture: a bare environment for the subprocess tests

OLD = "vdOJNvr6m2DE2np6KzNjPwLEhUCTJW6zY5siRBj3-n0"  # made with secrets.token_urlsafe(32)
NEW = "14TB5feYg2H3ItxE3A0C6XrXSZbmZLiwY_99s_ARtHY"
SLACK = {"_env_file": None, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "signing"}
LINEWORKS = {
    **SLACK,
    "TASK_BACKEND": "lineworks",
    "LINEWORKS_CLIENT_ID": "lw-client",
    "LINEWORKS_CLIENT_SECRET": "lw-secret",
}
WEAK = {
    "": "is blank",
    "   ": "is blank",
    "e2e-secret-key": "is too short",
    "d2a3fbf86a1781ae04c6a3e2f5d0c1b2a3e4f5d6c7b8a9f0": "is too short",  # 24 bytes of hex
    "a" * 64: "does not look random",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ": "does not look random",
    "0123456789" * 7: "does not look random",
    "hunter2!" * 8: "does not look random",
}


def problems(**values: object) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(**values)
    return caught.value.lines


@pytest.mark.parametrize("key", list(WEAK))
def test_a_weak_or_blank_key_is_refused_with_how_to_make_one(key: str) -> None:
    (line,) = problems(**LINEWORKS, TASKBOT_SECRET_KEY=key)
    assert line.startswith(f"TASKBOT_SECRET_KEY: {WEAK[key]}")
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in line
    assert not key.strip() or key not in line  # the key itself is never shown


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(32),
        lambda: base64.b64encode(secrets.token_bytes(32)).decode(),  # openssl rand -base64 32
        lambda: secrets.token_hex(32),  # openssl rand -hex 32
    ],
)
def test_keys_from_the_usual_generators_are_accepted(make: object) -> None:
    for _ in range(200):
        key = make()  # type: ignore[operator]
        assert keys.key_problem(key) is None, key
    load_settings(**LINEWORKS, TASKBOT_SECRET_KEY=key)


@pytest.mark.parametrize(
    "name",
    [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "LINEWORKS_CLIENT_SECRET",
        "LINEWORKS_REFRESH_TOKEN",
        "PAYMO_WEBHOOK_SECRET",
        "TASKBOT_SECRET_KEY_OLD",
    ],
)
def test_a_blank_secret_is_refused_not_taken_as_unset(name: str) -> None:
    lines = problems(**{**LINEWORKS, "TASKBOT_SECRET_KEY": NEW, name: ""})
    assert f"{name}: is set but blank; give it a value, or remove it to leave it unset" in lines


def test_start_up_refuses_a_short_key_in_one_line(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    env = {
        **clean_env,
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "signing",
        "TASK_BACKEND": "lineworks",
        "LINEWORKS_CLIENT_ID": "lw-client",
        "LINEWORKS_CLIENT_SECRET": "lw-secret",
        "TASKBOT_SECRET_KEY": "changeme",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
    }
    result = run(["run", "--port", "0"], tmp_path, env, timeout=30)
    assert result.returncode == 2
    assert "TASKBOT_SECRET_KEY: is too short" in result.stderr
    assert "secrets.token_urlsafe(32)" in result.stderr and "changeme" not in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "never.db").exists()


def test_sealing_and_signing_keys_are_derived_apart_with_hkdf() -> None:
    seal, sign = keys.derive_key(NEW, keys.SEAL_INFO), keys.derive_key(NEW, keys.SIGN_INFO)
    assert seal != sign and len(seal) == len(sign) == 32
    unsalted = hashlib.sha256(NEW.encode()).digest()
    assert unsalted not in (seal, sign) and NEW.encode() not in (seal, sign)
    expected = HKDF(hashes.SHA256(), 32, salt=keys.SALT, info=keys.SEAL_INFO).derive(NEW.encode())
    assert seal == expected
    sealed = Keys(NEW).seal("access-token")
    with pytest.raises(InvalidToken):  # not the unsalted SHA-256 key of before
        Fernet(base64.urlsafe_b64encode(unsalted)).decrypt(sealed.encode())
    Fernet(base64.urlsafe_b64encode(seal)).decrypt(sealed.encode())
    raw = hmac.new(NEW.encode(), b"text", hashlib.sha256).digest()  # not the raw secret either
    assert Keys(NEW).mac("text") != base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert Keys(NEW).check_mac("text", Keys(NEW).mac("text"))
    assert not Keys(NEW).check_mac("text", Keys(OLD).mac("text"))


def test_the_old_key_may_be_the_weak_one_being_replaced() -> None:
    settings = load_settings(
        **LINEWORKS, TASKBOT_SECRET_KEY=NEW, TASKBOT_SECRET_KEY_OLD="e2e-secret-key"
    )
    assert settings.TASKBOT_SECRET_KEY_OLD is not None
    (line,) = problems(**SLACK, TASKBOT_SECRET_KEY_OLD=OLD)
    assert line.startswith("TASKBOT_SECRET_KEY_OLD needs TASKBOT_SECRET_KEY")


def test_the_old_key_still_opens_what_it_sealed_and_signed() -> None:
    sealed, mac = Keys(OLD).seal("access-token"), Keys(OLD).mac("state")
    with pytest.raises(UnreadableSecret):
        Keys(NEW).open(sealed)
    rotating = Keys(NEW, OLD)
    assert rotating.open(sealed) == "access-token" and rotating.check_mac("state", mac)
    resealed = rotating.reseal(sealed)
    assert Keys(NEW).open(resealed) == "access-token"
    legacy = Fernet(base64.urlsafe_b64encode(hashlib.sha256(OLD.encode()).digest()))
    before_hkdf = legacy.encrypt(b"refresh-token").decode()  # how tokens were sealed before
    assert Keys(NEW).open(rotating.reseal(before_hkdf)) == "refresh-token"


def test_secrets_rotate_reseals_every_stored_token_with_only_the_store_and_keys(
    tmp_path: Path, clean_env: dict[str, str]
) -> None:
    url = f"sqlite:///{tmp_path / 'taskbot.db'}"
    engine = make_engine(url)
    upgrade_engine(engine)
    store = SqlAlchemyOAuthTokens(make_sessionmaker(engine))
    old = Keys(OLD)
    later = datetime(2030, 1, 1, tzinfo=UTC)
    for user in ("UANA", "UBEN"):
        store.put(
            "T1",
            user,
            "lineworks",
            StoredTokens("lw", old.seal(f"a-{user}"), old.seal(f"r-{user}"), later),
        )
    env = {**clean_env, "DATABASE_URL": url, "TASKBOT_SECRET_KEY": NEW}  # no Slack settings
    without_old = run(["secrets", "rotate"], tmp_path, env, timeout=60)
    assert without_old.returncode == 1 and "2 token set(s) could not be read" in without_old.stderr
    result = run(["secrets", "rotate"], tmp_path, {**env, "TASKBOT_SECRET_KEY_OLD": OLD})
    assert result.returncode == 0, result.stderr
    assert "re-sealed 2 stored token set(s)" in result.stdout
    new = Keys(NEW)  # the old key is no longer needed
    for user in ("UANA", "UBEN"):
        stored = store.get("T1", user, "lineworks")
        assert stored is not None
        assert new.open(stored.access_token) == f"a-{user}"
        assert new.open(stored.refresh_token) == f"r-{user}"
    weak = run(["secrets", "rotate"], tmp_path, {**env, "TASKBOT_SECRET_KEY": "short"})
    assert weak.returncode == 2 and "TASKBOT_SECRET_KEY: is too short" in weak.stderr
    engine.dispose()
