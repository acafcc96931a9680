"""Fresh, seeded databases for the benchmark: created, migrated by `inkwell db upgrade`, filled fast."""

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import asyncpg
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import make_url

from inkwell.models import Post, User
from inkwell.users.models import new_stamp

USER_COLUMNS = ("email", "name", "bio", "created_at", "updated_at", "security_stamp")
POST_COLUMNS = ("title", "body", "author_id", "created_at", "updated_at")
POST_BODY = "A seeded post. " * 12
# Each post's body names one of SEARCH_TOPICS topics and one of SEARCH_GROUPS groups (`topic417`,
# `group7`), by its number: a topic is in 0.1% of the posts at every size, a group in 10%.
SEARCH_TOPICS = 1_000
SEARCH_GROUPS = 10

# "A user's posts" is measured on these authors, who have exactly HOT_POSTS posts each at every size, so
# that the 10k-row and the 1M-row figures list the same number of posts.
HOT_AUTHORS = 100
HOT_POSTS = 20
BATCH = 10_000


@dataclass(frozen=True)
class Size:
    users: int
    posts: int

    def __post_init__(self) -> None:
        if self.users <= HOT_AUTHORS:
            raise ValueError(f"the benchmark needs more than {HOT_AUTHORS} users")
        if self.posts < HOT_AUTHORS * HOT_POSTS:
            raise ValueError(f"the benchmark needs at least {HOT_AUTHORS * HOT_POSTS} posts")


def user_rows(count: int, *, now: datetime) -> Iterator[tuple[object, ...]]:
    for number in range(1, count + 1):
        email, name = f"seed{number}@example.com", f"Seeded User {number}"
        yield (email, name, "Seeded by the benchmark.", now, now, new_stamp())


def author_ids(posts: int, users: int) -> Iterator[int]:
    """Authors for `posts` posts: the hot authors get HOT_POSTS each, spread through the table; the other
    posts go round-robin to the other users."""
    hot_total = HOT_AUTHORS * HOT_POSTS
    stride = posts // hot_total
    hot_given = spread_given = 0
    for index in range(posts):
        if index % stride == 0 and hot_given < hot_total:
            yield 1 + hot_given % HOT_AUTHORS
            hot_given += 1
        else:
            yield HOT_AUTHORS + 1 + spread_given % (users - HOT_AUTHORS)
            spread_given += 1


def post_body(number: int) -> str:
    return f"{POST_BODY}About topic{number % SEARCH_TOPICS}, in group{number % SEARCH_GROUPS}."


def post_rows(size: Size, *, now: datetime) -> Iterator[tuple[object, ...]]:
    for number, author_id in enumerate(author_ids(size.posts, size.users), start=1):
        yield (f"Seeded post {number}", post_body(number), author_id, now, now)


def migrate(database_url: str) -> None:
    """`inkwell db upgrade`, as a user would run it."""
    inkwell = str(Path(sys.executable).with_name("inkwell"))
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([inkwell, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603


# PostgreSQL: a database of our own on the shared server, filled with COPY.


def asyncpg_dsn(url: str) -> str:
    """A plain `postgresql://` DSN for asyncpg, from any SQLAlchemy-style PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url_for(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def create_postgresql_database(server_url: str, name: str) -> str:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return database_url_for(server_url, name)


async def drop_postgresql_database(server_url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def seed_postgresql(database_url: str, size: Size) -> None:
    now = datetime.now(UTC)
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.copy_records_to_table(
            "users", records=user_rows(size.users, now=now), columns=USER_COLUMNS
        )
        await connection.copy_records_to_table(
            "posts", records=post_rows(size, now=now), columns=POST_COLUMNS
        )
        # Fresh statistics and visibility map, as a database that has been running a while has.
        await connection.execute("VACUUM ANALYZE users")
        await connection.execute("VACUUM ANALYZE posts")
    finally:
        await connection.close()


# SQLite: a file, filled with SQLAlchemy Core's executemany in one transaction.


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def seed_sqlite(database_url: str, size: Size) -> None:
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            for batch in _batches(user_rows(size.users, now=now)):
                connection.execute(insert(User), [dict(zip(USER_COLUMNS, row, strict=True)) for row in batch])
            for batch in _batches(post_rows(size, now=now)):
                connection.execute(insert(Post), [dict(zip(POST_COLUMNS, row, strict=True)) for row in batch])
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


# MariaDB: a database of our own on the shared server, filled with multi-row INSERTs (PyMySQL's executemany).


def pymysql_url(url: str) -> str:
    return (
        make_url(url)
        .set(drivername="mysql+pymysql", query={"charset": "utf8mb4"})
        .render_as_string(hide_password=False)
    )


def create_mariadb_database(server_url: str, name: str) -> str:
    engine = create_engine(pymysql_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            connection.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    finally:
        engine.dispose()
    return database_url_for(server_url, name)


def drop_mariadb_database(server_url: str, name: str) -> None:
    engine = create_engine(pymysql_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        engine.dispose()


def seed_mariadb(database_url: str, size: Size) -> None:
    """Users and posts in batches, one transaction each (InnoDB writes a batch's full-text words at its
    commit)."""
    now = datetime.now(UTC)
    engine = create_engine(pymysql_url(database_url))
    try:
        for table, columns, rows in (
            (User, USER_COLUMNS, user_rows(size.users, now=now)),
            (Post, POST_COLUMNS, post_rows(size, now=now)),
        ):
            for batch in _batches(rows):
                with engine.begin() as connection:
                    connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in batch])
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE TABLE users, posts")
    finally:
        engine.dispose()


def _batches(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    while batch := list(islice(rows, BATCH)):
        yield batch
