"""The replica settings: PostgreSQL's alone, refused on SQLite and MariaDB with one line."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from inkwell.config import Settings
from inkwell.replicas import InvalidPosition, format_position, parse_position
from tests.accounts import SIGNED_IN_ENV
from tests.commands import run_here

REPLICA = "postgresql://inkwell:hunter2@replica.internal:5432/inkwell"


def test_replica_urls_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://inkwell@primary.internal/inkwell")
    monkeypatch.setenv("INKWELL_DB_REPLICA_URLS", f" {REPLICA}, postgresql://inkwell@replica2/inkwell ,")

    settings = Settings(_env_file=None)

    assert settings.db_replica_urls == [REPLICA, "postgresql://inkwell@replica2/inkwell"]


@pytest.mark.parametrize("primary", ["sqlite:///inkwell.db", "mysql://root@127.0.0.1/inkwell"])
def test_replicas_are_refused_beside_sqlite_and_mariadb(primary: str) -> None:
    with pytest.raises(ValidationError, match="read replicas are for PostgreSQL only"):
        Settings(database_url=primary, db_replica_urls=[REPLICA], _env_file=None)


@pytest.mark.parametrize("replica", ["mysql://root@replica/inkwell", "not a url"])
def test_a_replica_that_is_not_postgresql_is_refused_without_repeating_it(replica: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(database_url=REPLICA, db_replica_urls=[REPLICA, replica], _env_file=None)

    assert "replica 2" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_serve_on_sqlite_with_replicas_says_so_in_one_line(tmp_path: Path) -> None:
    env = {
        **SIGNED_IN_ENV,
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/inkwell.db",
        "INKWELL_DB_REPLICA_URLS": REPLICA,
    }

    result = run_here(env, "serve", "--port", "0")

    assert result.returncode == 1
    assert result.stderr == (
        "inkwell serve: INKWELL_DB_REPLICA_URLS: read replicas are for PostgreSQL only (DATABASE_URL names "
        "sqlite): unset it, or use PostgreSQL\n"
    )


@pytest.mark.parametrize("position", ["0/0", "0/16B3748", "1F/FFFFFFFF", "FFFFFFFF/FFFFFFFF"])
def test_positions_read_back_as_they_were_written(position: str) -> None:
    assert format_position(parse_position(position)) == position
    assert parse_position(position.lower()) == parse_position(position)


def test_positions_compare_as_the_log_does() -> None:
    assert parse_position("1/0") > parse_position("0/FFFFFFFF")


@pytest.mark.parametrize("sent", ["", "16B3748", "0/-1", "0x1/0", "0/1 junk", "\uff11/0"])
def test_what_is_not_a_position_is_refused(sent: str) -> None:
    with pytest.raises(InvalidPosition):
        parse_position(sent)


def test_a_write_is_remembered_for_longer_than_a_replica_may_lag() -> None:
    with pytest.raises(ValidationError, match="must be longer than INKWELL_DB_REPLICA_MAX_LAG"):
        Settings(db_replica_max_lag=30, db_replica_check_interval=1, db_position_ttl=31, _env_file=None)

    assert Settings(db_replica_max_lag=30, db_position_ttl=60, _env_file=None).db_position_ttl == 60
