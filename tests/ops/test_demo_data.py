"""`inkwell seed`'s demo data: users who can sign in, and posts that search can tell apart."""

import os
import re
from pathlib import Path

import pytest
from pydantic import SecretStr

from inkwell.config import Settings
from inkwell.db import Database, create_engine
from inkwell.demo_text import SUBJECTS, PostWriter, person_name
from tests.accounts import CHEAP_HASHING_ENV, SIGNED_IN_ENV, TEST_SECRET_KEY, bearer
from tests.apps import app_on, asgi_client
from tests.commands import run_here

SIGN_IN_LINE = re.compile(r"^Sign in as (\S+) to (\S+) with the password (\S+) ", re.MULTILINE)


def words_of(subject_index: int) -> set[str]:
    subject = SUBJECTS[subject_index]
    return {word for phrase in (*subject.things, *subject.doings) for word in phrase.split()}


@pytest.mark.parametrize("index", range(len(SUBJECTS)), ids=[subject.name for subject in SUBJECTS])
def test_each_subject_has_words_no_other_subject_uses(index: int) -> None:
    others = set().union(*(words_of(other) for other in range(len(SUBJECTS)) if other != index))

    assert words_of(index).isdisjoint(others), words_of(index) & others


def test_the_same_seed_writes_the_same_posts_and_they_vary() -> None:
    first, again = PostWriter(7), PostWriter(7)
    posts = [first.post() for _ in range(200)]

    assert posts == [again.post() for _ in range(200)]
    assert len({post.title for post in posts}) > 100
    assert len({post.body for post in posts}) > 150
    assert {post.subject for post in posts} == {subject.name for subject in SUBJECTS}
    assert len({person_name(f"run:{number}") for number in range(100)}) > 50


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[str, str]:
    """A SQLite database seeded by `inkwell seed` with 20 users of 6 posts, and what the command printed."""
    database_url = f"sqlite:///{tmp_path}/demo.db"
    env = {**os.environ, **SIGNED_IN_ENV, **CHEAP_HASHING_ENV, "DATABASE_URL": database_url}
    assert run_here(env, "db", "upgrade").returncode == 0
    result = run_here(env, "seed", "--users", "20", "--posts-per-user", "6")
    assert result.returncode == 0, result.stderr
    return database_url, result.stdout


async def test_seeded_users_sign_in_with_the_password_seed_prints_and_search_tells_posts_apart(
    seeded: tuple[str, str],
) -> None:
    database_url, printed = seeded
    [(first, last, password)] = SIGN_IN_LINE.findall(printed)
    settings = Settings(_env_file=None, database_url=database_url, secret_key=SecretStr(TEST_SECRET_KEY))
    engine = create_engine(settings)
    try:
        async with asgi_client(app_on(settings, Database(engine))) as client:
            for email in (first, last):
                signed_in = await client.post("/auth/token", data={"username": email, "password": password})
                assert signed_in.status_code == 200, signed_in.text
            me = await client.get("/users/me", headers=bearer(signed_in.json()["access_token"]))
            everything = (await client.get("/posts", params={"limit": 100})).json()
            everything += (await client.get("/posts", params={"limit": 100, "offset": 100})).json()
            found = {
                subject.things[0]: (
                    await client.get("/posts", params={"q": subject.things[0], "limit": 100})
                ).json()
                for subject in SUBJECTS
            }
    finally:
        await engine.dispose()

    assert me.json()["email"] == last
    assert len(everything) == 120
    assert len({post["title"] for post in everything}) > 40
    for word, posts in found.items():
        # Exactly the posts that use the word: search tells the subjects apart.
        expected = {post["id"] for post in everything if word in f"{post['title']} {post['body']}".lower()}
        assert {post["id"] for post in posts} == expected, word
    assert sum(map(len, found.values())) > 0
