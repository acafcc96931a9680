"""Settings and database URLs."""

import re
import secrets
from collections.abc import Callable

import pytest
from pydantic import SecretStr, ValidationError

from inkwell.auth.keys import SecretKeyError, signing_key
from inkwell.config import Settings
from inkwell.db import async_url


@pytest.mark.parametrize(
    ("plain", "expected"),
    [
        ("sqlite:///./inkwell.db", "sqlite+aiosqlite:///./inkwell.db"),
        ("postgresql://u:p@db/app", "postgresql+asyncpg://u:p@db/app"),
        ("postgres://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("mysql://root@db/app", "mysql+aiomysql://root@db/app?charset=utf8mb4"),
        ("mariadb://root@db/app", "mysql+aiomysql://root@db/app?charset=utf8mb4"),
        ("postgresql+asyncpg://u@db/app", "postgresql+asyncpg://u@db/app"),
        ("mysql+aiomysql://root@db/app?charset=latin1", "mysql+aiomysql://root@db/app?charset=latin1"),
    ],
)
def test_plain_urls_get_the_async_driver(plain: str, expected: str) -> None:
    assert async_url(plain).render_as_string(hide_password=False) == expected


def test_database_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/app")
    monkeypatch.setenv("INKWELL_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("INKWELL_MAX_BODY_BYTES", "2048")

    settings = Settings(_env_file=None)

    assert settings.database_url == "postgresql://u@db/app"
    assert settings.log_level == "debug"
    assert settings.max_body_bytes == 2048


@pytest.mark.parametrize("variable", ["INKWELL_PURGE_INTERVAL", "INKWELL_IDEMPOTENCY_PURGE_INTERVAL"])
def test_the_purge_interval_is_read_under_its_name_and_its_earlier_one(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "90")

    assert Settings(_env_file=None).purge_interval == 90


def test_the_default_database_is_a_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)

    assert Settings(_env_file=None).database_url == "sqlite:///./inkwell.db"


def test_settings_read_a_dotenv_file(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env_file = f"{tmp_path}/.env"
    with open(env_file, "w") as fh:
        fh.write("DATABASE_URL=sqlite:///./from-dotenv.db\n")

    assert Settings(_env_file=env_file).database_url == "sqlite:///./from-dotenv.db"


@pytest.mark.parametrize(
    ("name", "value"),
    [("INKWELL_LOG_LEVEL", "loud"), ("INKWELL_MAX_BODY_BYTES", "0"), ("INKWELL_SESSION_MAX_AGE", "0")],
)
def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    "url",
    [
        "foo://u:hunter2@db/app",
        "postgresql+psycopg2://u:hunter2@db/app",
        "db.example.com",
        "mysql://u@db:x/a",
    ],
)
def test_a_database_url_inkwell_cannot_use_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, database_url=url)

    [error] = refused.value.errors()
    assert error["loc"] == ("database_url",)
    assert "hunter2" not in error["msg"]
    assert "postgresql://user:password@host:5432/inkwell" in error["msg"]


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("short", "must be at least 32 bytes"),
        ("change-me-change-me-change-me-change-me", "looks like a placeholder"),
        # Long enough and no placeholder word, but a sequence twice: about 15 bits by zxcvbn's estimate.
        ("0123456789abcdef0123456789abcdef", "is too easy to guess (about 15 bits"),
        ("qwertyuiopasdfghjklzxcvbnm1234567890", "is too easy to guess"),
        ("Password1234567890Password1234567890", "is too easy to guess"),
    ],
)
def test_a_weak_secret_key_is_refused_where_tokens_are_signed_only(key: str, says: str) -> None:
    settings = Settings(_env_file=None, secret_key=SecretStr(key))  # the settings of any command

    with pytest.raises(SecretKeyError, match=f"^INKWELL_SECRET_KEY {re.escape(says)}"):
        signing_key(settings)


@pytest.mark.parametrize(
    "new_key",
    [lambda: secrets.token_hex(16), lambda: secrets.token_hex(32), lambda: secrets.token_urlsafe(32)],
    ids=["16 random bytes in hex", "openssl rand -hex 32", "32 random bytes in base64"],
)
def test_random_keys_of_32_characters_or_more_are_taken(new_key: Callable[[], str]) -> None:
    for key in (new_key() for _ in range(20)):
        assert signing_key(Settings(_env_file=None, secret_key=SecretStr(key))) == key


@pytest.mark.parametrize("word", ["xxx", "your", "todo", "Secret"])
def test_a_random_key_that_holds_an_examples_word_by_chance_is_taken(word: str) -> None:
    # token_urlsafe draws from letters too: about one key in 700 holds `xxx` or `your` somewhere.
    random = secrets.token_urlsafe(32)
    key = random[:20] + word + random[20:]

    assert signing_key(Settings(_env_file=None, secret_key=SecretStr(key))) == key


def test_a_client_address_may_fail_far_more_often_than_an_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everyone behind one NAT or proxy shares an address: by default its limit is much the higher."""
    defaults = Settings(_env_file=None)
    monkeypatch.setenv("INKWELL_LOGIN_MAX_FAILURES_PER_ADDRESS", "250")

    assert defaults.login_max_failures_per_address >= 10 * defaults.login_max_failures
    assert Settings(_env_file=None).login_max_failures_per_address == 250
