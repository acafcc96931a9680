"""Statement parameters (password hashes, email addresses) reach neither an error's text nor the SQL echo."""

import logging

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from inkwell.config import Settings
from inkwell.db import create_engine
from inkwell.users.models import User
from tests.databases import Backend

HASH = "$argon2id$v=19$m=8,t=1,p=1$cGFyYW1ldGVycw$aGlkZGVuLWhhc2g"


async def test_a_database_error_names_the_statement_but_none_of_its_values(
    connection: AsyncConnection, backend: Backend
) -> None:
    user = {"email": "taken-twice@example.com", "name": "First Name Probe", "password_hash": HASH}
    await connection.execute(insert(User).values(user))

    with pytest.raises(IntegrityError) as refused:
        async with connection.begin_nested():
            await connection.execute(insert(User).values({**user, "name": "Second Name Probe"}))

    message = str(refused.value)
    assert "INSERT INTO users" in message
    for value in ("Second Name Probe", HASH, "aGlkZGVuLWhhc2g"):
        assert value not in message
    if backend.name != "mariadb":
        # MariaDB's own message names the duplicate entry; the log keeps only its domain.
        assert user["email"] not in message


async def test_the_sql_echo_shows_statements_without_their_values(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(settings.model_copy(update={"db_echo": True}))
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine"):
            async with engine.connect() as conn:
                await conn.execute(select(User.id).where(User.email == "echoed-probe@example.com"))
    finally:
        await engine.dispose()

    echoed = [record.getMessage() for record in caplog.records if record.name.startswith("sqlalchemy")]
    assert any("FROM users" in line for line in echoed)
    assert not [line for line in echoed if "echoed-probe" in line]
