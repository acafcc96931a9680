"""Searching posts (`q`) on every database: the syntax, ranking, paging, bad input, and an index that is
current as soon as a write commits.

The posts are committed for real: MariaDB's FULLTEXT index sees a write only once its transaction commits.
"""

import re
import string
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.db import Database
from inkwell.demo_text import SUBJECTS
from inkwell.seed import seed
from inkwell.users.models import User
from tests.accounts import new_account
from tests.factories import make_user


async def found(client: httpx.AsyncClient, q: str, path: str = "/posts", **params: Any) -> list[str]:
    response = await client.get(path, params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [post["title"] for post in response.json()]


async def test_every_word_is_required(committed_client: httpx.AsyncClient, write: Any) -> None:
    await write("Cloves and nutmeg")
    await write("Cloves alone")
    await write("Only nutmeg", "and no cloves")

    assert sorted(await found(committed_client, "cloves nutmeg")) == ["Cloves and nutmeg", "Only nutmeg"]
    assert await found(committed_client, "cloves alone") == ["Cloves alone"]


async def test_case_does_not_matter(committed_client: httpx.AsyncClient, write: Any) -> None:
    await write("Roasted Cardamom")

    assert await found(committed_client, "cardamom") == ["Roasted Cardamom"]
    assert await found(committed_client, "ROASTED CARDAMOM") == ["Roasted Cardamom"]


async def test_a_quoted_phrase_needs_its_words_together_and_in_order(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("Green tea with honey")
    await write("Tea that is green")
    await write("Green and black tea")

    assert await found(committed_client, '"green tea"') == ["Green tea with honey"]
    assert sorted(await found(committed_client, "green tea")) == [
        "Green and black tea",
        "Green tea with honey",
        "Tea that is green",
    ]
    assert await found(committed_client, '"green tea') == ["Green tea with honey"]  # an unclosed quote


async def test_a_phrase_does_not_run_from_the_title_into_the_body(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("Morning green", "Tea time.")

    assert await found(committed_client, '"green tea"') == []
    assert await found(committed_client, '"morning green"') == ["Morning green"]
    assert await found(committed_client, '"tea time"') == ["Morning green"]


async def test_a_minus_excludes_a_word_or_a_phrase(committed_client: httpx.AsyncClient, write: Any) -> None:
    await write("Green tea with honey")
    await write("Black tea with lemon")
    await write("Tea with honey, green")

    assert await found(committed_client, "tea -honey") == ["Black tea with lemon"]
    assert sorted(await found(committed_client, 'tea -"green tea"')) == [
        "Black tea with lemon",
        "Tea with honey, green",
    ]


async def test_or_accepts_either(committed_client: httpx.AsyncClient, write: Any) -> None:
    await write("Morning coffee")
    await write("Evening cocoa")
    await write("Afternoon tea")

    assert sorted(await found(committed_client, "coffee OR cocoa")) == ["Evening cocoa", "Morning coffee"]
    assert sorted(await found(committed_client, 'coffee OR "afternoon tea"')) == [
        "Afternoon tea",
        "Morning coffee",
    ]
    # In lower case, or with nothing on one side, it is the word "or".
    assert await found(committed_client, "coffee or cocoa") == []
    await write("Coffee or cocoa?")
    assert await found(committed_client, "coffee or cocoa") == ["Coffee or cocoa?"]
    assert await found(committed_client, "OR cocoa") == ["Coffee or cocoa?"]


async def test_punctuation_separates_words_everywhere(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("Mail me at ada@example.com", "Pi is 3.14, see /usr/share/pi and e-mail.")

    for q in ("example", "ada example com", "ada@example.com", "3.14", "usr share", "e-mail", "mail"):
        assert await found(committed_client, q) == ["Mail me at ada@example.com"], q
    assert await found(committed_client, '"pi see"') == []


async def test_short_words_and_stop_words_are_searched_too(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    # MariaDB's index leaves out words under 3 characters and stop words: they are checked on the rows.
    await write("To be or not to be")
    await write("The cat sat on it")
    await write("Tobe", "Bet on the cat")

    assert await found(committed_client, "to be") == ["To be or not to be"]
    assert await found(committed_client, '"the cat"') == ["The cat sat on it", "Tobe"]
    assert await found(committed_client, "cat -it") == ["Tobe"]
    assert await found(committed_client, 'cat -"on it"') == ["Tobe"]
    assert sorted(await found(committed_client, "be OR it")) == ["The cat sat on it", "To be or not to be"]
    assert await found(committed_client, "sat on") == ["The cat sat on it"]


async def test_operators_of_the_engines_are_taken_literally(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("Near and not far", "Wildcards* and (parentheses)")

    for q in ("near", "NEAR", "NOT far", "AND", "wildcards*", "(parentheses)", "+near", "far~", "near:and"):
        assert await found(committed_client, q) == ["Near and not far"], q


@pytest.mark.parametrize(
    "q",
    [
        '"',
        "'",
        "\\",
        "*",
        "-",
        '"-"',
        "a AND",
        "OR",
        "OR OR",
        "-OR",
        "( )",
        "{title}: x",
        "title:x",
        "x NEAR/2 y",
        "a & b | !c <-> d",
        "@@ :* ::",
        '+ - > < ~ ( ) * "',
        "%_%",
        "'; DROP TABLE posts; --",
        "\uff46\uff55\uff4c\uff4c \uff57\uff49\uff44\uff54\uff48",  # full-width letters
        "日本語のテキスト",
        "x" * 200,
        " ".join("ab" for _ in range(66)),
    ],
)
async def test_no_query_fails(committed_client: httpx.AsyncClient, write: Any, q: str) -> None:
    await write("Something")

    response = await committed_client.get("/posts", params={"q": q})

    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["detail"][0]["loc"] == ["query", "q"]


async def test_a_title_match_ranks_above_body_matches_then_newest_first(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("A stew", "Saffron, saffron and more saffron: saffron everywhere, saffron saffron.")
    await write("Saffron", "A short one.")
    await write("Another stew", "With saffron.")
    await write("Rice", "Saffron rice.")

    titles = await found(committed_client, "saffron")
    assert titles[0] == "Saffron"
    assert set(titles) == {"Saffron", "A stew", "Rice", "Another stew"}


async def test_a_title_must_hold_the_whole_phrase_to_rank_first(
    committed_client: httpx.AsyncClient, write: Any
) -> None:
    await write("Green tea", "Nothing else.")
    await write("Green", "Green tea, green tea and more green tea.")
    await write("Tea", "Green tea, green tea and more green tea.")

    titles = await found(committed_client, '"green tea"')

    assert titles[0] == "Green tea"
    assert sorted(titles[1:]) == ["Green", "Tea"]


async def test_equal_matches_come_newest_first(committed_client: httpx.AsyncClient, write: Any) -> None:
    for n in range(3):
        await write(f"Ginger {n}", "Same body.")

    assert await found(committed_client, "ginger") == ["Ginger 2", "Ginger 1", "Ginger 0"]


async def test_pages_follow_with_q_in_the_link(committed_client: httpx.AsyncClient, write: Any) -> None:
    for n in range(5):
        await write(f"Fennel {n}")

    titles: list[str] = []
    url = "/posts?q=fennel&limit=2"
    while url:
        response = await committed_client.get(url)
        titles += [post["title"] for post in response.json()]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
        if url:
            assert "q=fennel" in url
            assert "offset=" in url

    assert titles == [f"Fennel {n}" for n in (4, 3, 2, 1, 0)]


async def test_no_link_beyond_the_deepest_offset(committed_client: httpx.AsyncClient, write: Any) -> None:
    for n in range(3):
        await write(f"Anise {n}")

    response = await committed_client.get("/posts", params={"q": "anise", "limit": 1, "offset": 10_000})
    assert response.status_code == 200
    assert "Link" not in response.headers
    response = await committed_client.get("/posts", params={"q": "anise", "limit": 1, "offset": 1})
    assert "offset=2" in response.headers["Link"]


async def test_author_filter_and_a_users_posts(
    committed_client: httpx.AsyncClient,
    committed_sessionmaker: async_sessionmaker[AsyncSession],
    write: Any,
    author: User,
) -> None:
    async with committed_sessionmaker() as session:
        other = await make_user(session)
    await write("Mine: sumac")
    await write("Theirs: sumac", by=other)

    assert sorted(await found(committed_client, "sumac")) == ["Mine: sumac", "Theirs: sumac"]
    assert await found(committed_client, "sumac", author_id=other.id) == ["Theirs: sumac"]
    assert await found(committed_client, "sumac", f"/users/{author.id}/posts") == ["Mine: sumac"]
    assert await found(committed_client, "absent", f"/users/{author.id}/posts") == []
    missing = await committed_client.get("/users/424242/posts", params={"q": "sumac"})
    assert missing.status_code == 404


async def test_writes_are_searchable_at_once(committed_client: httpx.AsyncClient) -> None:
    author = await new_account(committed_client)
    committed_client.headers.update(author.headers)
    created = await committed_client.post(
        f"/users/{author.id}/posts", json={"title": "Tamarind", "body": "Sour."}
    )
    post_id = created.json()["id"]
    assert await found(committed_client, "tamarind") == ["Tamarind"]

    await committed_client.patch(f"/posts/{post_id}", json={"title": "Turmeric"})
    assert await found(committed_client, "tamarind") == []
    assert await found(committed_client, "turmeric") == ["Turmeric"]
    await committed_client.patch(f"/posts/{post_id}", json={"body": "Bitter."})
    assert await found(committed_client, "sour") == []
    assert await found(committed_client, "bitter") == ["Turmeric"]

    await committed_client.delete(f"/posts/{post_id}")
    assert await found(committed_client, "turmeric") == []


async def test_a_deleted_users_posts_leave_the_search(committed_client: httpx.AsyncClient) -> None:
    author = await new_account(committed_client)
    posted = await committed_client.post(
        f"/users/{author.id}/posts", json={"title": "Caraway", "body": "Seeds."}, headers=author.headers
    )
    assert await found(committed_client, "caraway") == ["Caraway"], posted.text

    deleted = await committed_client.request(
        "DELETE", f"/users/{author.id}", json={"current_password": author.password}, headers=author.headers
    )
    assert deleted.status_code == 204

    assert await found(committed_client, "caraway") == []


async def test_seeded_posts_are_searchable(
    committed_client: httpx.AsyncClient, committed_database: Database
) -> None:
    await seed(committed_database, user_count=3, posts_per_user=4, batch_size=2, on_batch=lambda _: None)
    seeded = (await committed_client.get("/posts", params={"limit": 100})).json()

    # Each subject's words find its posts, and only them.
    for subject in SUBJECTS:
        expected = sorted(post["title"] for post in seeded if post_subject(post) == subject.name)
        assert sorted(await found(committed_client, subject_query(subject.name), limit=100)) == expected
    assert len(seeded) == 12


def subject_query(name: str) -> str:
    """Every word of the subject, in web-search syntax: a post on it has at least one."""
    [subject] = [subject for subject in SUBJECTS if subject.name == name]
    return " OR ".join(f'"{phrase}"' for phrase in (*subject.things, *subject.doings))


def post_subject(post: dict[str, Any]) -> str:
    text = f"{post['title']} {post['body']}".lower()
    [name] = [
        subject.name
        for subject in SUBJECTS
        if any(phrase in text for phrase in (*subject.things, *subject.doings))
    ]
    return name


@pytest.mark.parametrize(
    ("params", "parameter", "message"),
    [
        ({"q": ""}, "q", "at least 1 character"),
        ({"q": "   "}, "q", "the search is blank"),
        ({"q": "\t\u3000\n"}, "q", "the search is blank"),
        ({"q": "x" * 201}, "q", "at most 200 characters"),
        ({"q": "nul\x00"}, "q", "may not contain a NUL character"),
        ({"q": "salt", "after": "5"}, "after", "cannot be combined with `q`"),
    ],
)
async def test_bad_queries_are_422(
    client: httpx.AsyncClient, params: dict[str, str], parameter: str, message: str
) -> None:
    for path in ("/posts", "/users/1/posts"):
        response = await client.get(path, params=params)

        assert response.status_code == 422
        [error] = response.json()["detail"]
        assert error["loc"] == ["query", parameter]
        assert message in error["msg"]
        assert not error["msg"].startswith("Value error")


@pytest.mark.parametrize("q", ["-salt", '-salt -"black pepper"', "?!…", "-", '""', "*"])
async def test_a_query_with_no_word_to_look_for_finds_nothing(
    committed_client: httpx.AsyncClient, write: Any, author: User, q: str
) -> None:
    await write("Pepper", "No salt.")

    assert await found(committed_client, q) == []
    assert await found(committed_client, q, f"/users/{author.id}/posts") == []
    assert (await committed_client.get("/users/424242/posts", params={"q": q})).status_code == 404


async def test_the_openapi_document_describes_q_and_the_link_header(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path in ("/posts", "/users/{user_id}/posts"):
        operation = paths[path]["get"]
        [q] = [p for p in operation["parameters"] if p["name"] == "q"]
        schema = q["schema"]["anyOf"][0]
        assert (schema["minLength"], schema["maxLength"]) == (1, 200)
        pattern = re.compile(schema["pattern"])
        assert [bool(pattern.search(text)) for text in ("x", " -x ", " \t\u3000", "x\x00")] == [
            True,
            True,
            False,
            False,
        ]
        ok = operation["responses"]["200"]
        assert "Link" in ok["headers"]
        assert ok["content"]["application/json"]["schema"]["type"] == "array"


# Any text at all: a 200 or a 422, never anything else.
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | st.text(
    alphabet=string.punctuation + ' "-ORaNDt', max_size=30
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=_TEXT)
async def test_arbitrary_text_never_fails(committed_client: httpx.AsyncClient, q: str) -> None:
    response = await committed_client.get("/posts", params={"q": q})

    assert response.status_code in (200, 422), (q, response.text)
