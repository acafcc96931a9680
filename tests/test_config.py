"""Settings and database URLs."""

import pytest
from pydantic import ValidationError

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
