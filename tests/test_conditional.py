"""ETags on single users and posts: If-None-Match answers 304, If-Match guards PATCH and DELETE.

With sign-in on, as users run it: each record is changed by its owner, signed in (the client carries the
owner's token), and deleting an account gives its password, as the API asks.
"""

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inkwell.config import Settings
from inkwell.db import Database
from inkwell.errors import PreconditionFailed
from inkwell.main import create_app
from inkwell.posts import service as posts_service
from inkwell.users import service as users_service
from tests.accounts import PASSWORD, Account, make_admin, new_account
from tests.factories import make_post, make_user, tags

RACERS = 8


@dataclass(frozen=True)
class Resource:
    url: str
    change: dict[str, str]
    other_change: dict[str, str]
    # What a DELETE sends: an account's deletion asks for its password again.
    delete_body: dict[str, str] | None = None


@pytest.fixture(params=["user", "post"])
async def resource(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> Resource:
    """A user or a post, with two different changes to make to it; `client` is signed in as its owner."""
    owner = await new_account(client)
    client.headers.update(owner.headers)
    if request.param == "user":
        password = {"current_password": owner.password}
        return Resource(f"/users/{owner.id}", {"name": "Changed"}, {"name": "Other"}, password)
    post = await client.post(f"/users/{owner.id}/posts", json={"title": "t", "body": "b"})
    return Resource(f"/posts/{post.json()['id']}", {"title": "Changed"}, {"title": "Other"})


async def current_etag(client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    return response.headers["etag"]


async def delete(client: httpx.AsyncClient, resource: Resource, if_match: str) -> httpx.Response:
    return await client.request(
        "DELETE", resource.url, json=resource.delete_body, headers={"If-Match": if_match}
    )


async def test_get_carries_a_strong_etag(client: httpx.AsyncClient, resource: Resource) -> None:
    response = await client.get(resource.url)

    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert await current_etag(client, resource.url) == etag


@pytest.mark.parametrize("form", ["{tag}", "W/{tag}", '"other", {tag}', "*"])
async def test_if_none_match_naming_the_current_etag_is_304_with_no_body(
    client: httpx.AsyncClient, resource: Resource, form: str
) -> None:
    etag = await current_etag(client, resource.url)

    response = await client.get(resource.url, headers={"If-None-Match": form.format(tag=etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


@pytest.mark.parametrize("header", ['"0-0"', 'W/"0-0", "1-99"', "not a tag", '"unterminated', ""])
async def test_if_none_match_naming_another_etag_is_a_full_200(
    client: httpx.AsyncClient, resource: Resource, header: str
) -> None:
    response = await client.get(resource.url, headers={"If-None-Match": header})

    assert response.status_code == 200
    assert response.json()["id"] > 0


async def test_every_change_gives_a_new_etag(client: httpx.AsyncClient, resource: Resource) -> None:
    before = await current_etag(client, resource.url)

    patched = await client.patch(resource.url, json=resource.change)
    patched_again = await client.patch(resource.url, json=resource.other_change)

    etags = [before, patched.headers["etag"], patched_again.headers["etag"]]
    assert len(set(etags)) == 3
    assert await current_etag(client, resource.url) == etags[-1]


async def test_a_patch_that_changes_nothing_keeps_the_etag(
    client: httpx.AsyncClient, resource: Resource
) -> None:
    before = await current_etag(client, resource.url)

    response = await client.patch(resource.url, json={})

    assert response.headers["etag"] == before


@pytest.mark.parametrize("form", ["{tag}", '"other", {tag}', "*"])
async def test_patch_with_a_matching_if_match_applies(
    client: httpx.AsyncClient, resource: Resource, form: str
) -> None:
    etag = await current_etag(client, resource.url)

    response = await client.patch(
        resource.url, json=resource.change, headers={"If-Match": form.format(tag=etag)}
    )

    assert response.status_code == 200
    assert response.json().items() >= resource.change.items()


async def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient, resource: Resource
) -> None:
    stale = await current_etag(client, resource.url)
    await client.patch(resource.url, json=resource.change)
    before = (await client.get(resource.url)).json()

    response = await client.patch(resource.url, json=resource.other_change, headers={"If-Match": stale})

    assert response.status_code == 412
    assert response.json() == {"detail": "The resource has changed since that ETag: fetch it again"}
    assert (await client.get(resource.url)).json() == before


async def test_if_match_with_a_weak_tag_is_412(client: httpx.AsyncClient, resource: Resource) -> None:
    # If-Match compares strongly: a weak tag never matches.
    etag = await current_etag(client, resource.url)
    before = (await client.get(resource.url)).json()

    response = await client.patch(resource.url, json=resource.change, headers={"If-Match": f"W/{etag}"})

    assert response.status_code == 412
    assert (await client.get(resource.url)).json() == before


@pytest.mark.parametrize("header", ["garbage", '"unterminated', "", "null", "{{"])
@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_an_if_match_naming_no_tag_is_412_and_changes_nothing(
    client: httpx.AsyncClient, resource: Resource, header: str, method: str
) -> None:
    before = (await client.get(resource.url)).json()

    body = resource.change if method == "PATCH" else resource.delete_body
    response = await client.request(method, resource.url, json=body, headers={"If-Match": header})

    assert response.status_code == 412
    assert (await client.get(resource.url)).json() == before


async def test_an_unquoted_current_tag_is_accepted(client: httpx.AsyncClient, resource: Resource) -> None:
    etag = await current_etag(client, resource.url)

    response = await client.patch(resource.url, json=resource.change, headers={"If-Match": etag.strip('"')})

    assert response.status_code == 200


async def test_delete_with_a_stale_if_match_is_412_and_deletes_nothing(
    client: httpx.AsyncClient, resource: Resource, account: Account
) -> None:
    stale = await current_etag(client, resource.url)
    await client.patch(resource.url, json=resource.change)

    refused = await delete(client, resource, stale)
    still_there = await client.get(resource.url)
    deleted = await delete(client, resource, still_there.headers["etag"])

    assert refused.status_code == 412
    assert still_there.status_code == 200
    assert deleted.status_code == 204
    # Asked by someone else: a deleted account's own token is of no use any more.
    assert (await client.get(resource.url, headers=account.headers)).status_code == 404


async def test_if_match_on_a_missing_resource_is_404(client: httpx.AsyncClient, account: Account) -> None:
    response = await client.patch(
        "/posts/999999", json={"title": "t"}, headers={"If-Match": "*", **account.headers}
    )

    assert response.status_code == 404


@pytest.mark.parametrize("route", ["/users", "/users/{user_id}/posts"])
async def test_created_resources_carry_the_etag_that_get_returns(
    client: httpx.AsyncClient, account: Account, route: str
) -> None:
    client.headers.update(account.headers)
    if route == "/users":
        payload = {"email": "new@example.com", "name": "N", "password": PASSWORD}
    else:
        payload = {"title": "t", "body": "b"}

    created = await client.post(route.format(user_id=account.id), json=payload)

    url = "/users/{}" if route == "/users" else "/posts/{}"
    assert created.headers["etag"] == await current_etag(client, url.format(created.json()["id"]))


async def test_two_patches_with_one_etag_at_once_one_wins(committed_client: httpx.AsyncClient) -> None:
    owner = await new_account(committed_client)
    committed_client.headers.update(owner.headers)
    post = (await committed_client.post(f"/users/{owner.id}/posts", json={"title": "t", "body": "b"})).json()

    for url, field in ((f"/users/{owner.id}", "name"), (f"/posts/{post['id']}", "title")):
        etag = await current_etag(committed_client, url)
        responses = await asyncio.gather(
            *(
                committed_client.patch(url, json={field: f"racer {i}"}, headers={"If-Match": etag})
                for i in range(RACERS)
            )
        )

        statuses = [r.status_code for r in responses]
        assert sorted(statuses) == [200] + [412] * (RACERS - 1), url
        winner = responses[statuses.index(200)]
        final = await committed_client.get(url)
        assert final.headers["etag"] == winner.headers["etag"], url
        assert final.json()[field] == winner.json()[field]


async def test_a_delete_and_a_patch_with_one_etag_at_once_one_wins(
    committed_client: httpx.AsyncClient, committed_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner = await new_account(committed_client)
    # An admin reads the outcome: a deleted account's own token is of no use any more.
    async with committed_sessionmaker() as session:
        reader = await make_admin(session, await new_account(committed_client))
    url = f"/users/{owner.id}"
    etag = await current_etag(committed_client, url, reader.headers)

    deleted, patched = await asyncio.gather(
        committed_client.request(
            "DELETE",
            url,
            json={"current_password": owner.password},
            headers={"If-Match": etag, **owner.headers},
        ),
        committed_client.patch(url, json={"name": "Late"}, headers={"If-Match": etag, **owner.headers}),
    )

    final = await committed_client.get(url, headers=reader.headers)
    if deleted.status_code == 204:
        # The patch waited for the delete, then found nothing to change.
        assert patched.status_code in (404, 412)
        assert final.status_code == 404
    else:
        assert (deleted.status_code, patched.status_code) == (412, 200)
        assert final.json()["name"] == "Late"


async def test_a_user_update_names_the_versions_it_accepts(
    committed_database: Database,
) -> None:
    # PATCH /users checks If-Match in the UPDATE itself (WHERE version IN ...), or under the row's lock
    # where the database has no UPDATE ... RETURNING.
    async with committed_database.transaction() as tx:
        user = await make_user(tx)
        post = await make_post(tx, user)
    seen = user.version
    await change_elsewhere(committed_database, user.id, post.id)

    async with committed_database.transaction() as tx:
        with pytest.raises(PreconditionFailed):
            await users_service.update_user(
                tx, user.id, changes={"name": "Late"}, if_match=tags(user.id, seen)
            )
    async with committed_database.transaction() as tx:
        updated = await users_service.update_user(
            tx, user.id, changes={"name": "On time"}, if_match=tags(user.id, seen + 1)
        )
    assert (updated.name, updated.version) == ("On time", seen + 2)


# SQLite serialises writers from BEGIN: no other writer can come in between.
@pytest.mark.backends("postgresql", "mariadb")
async def test_the_version_check_is_in_the_write_itself(committed_database: Database) -> None:
    # Even without the row lock, a post changed by another transaction after this one read it is not
    # overwritten: the DELETE names the version that was read, and matches nothing.
    async with committed_database.transaction() as tx:
        user = await make_user(tx)
        post = await make_post(tx, user)

    async with committed_database.transaction() as tx:
        stale_post = await posts_service.POSTS.get(tx, post.id)
        await change_elsewhere(committed_database, user.id, post.id)
        assert stale_post is not None
        with pytest.raises(PreconditionFailed):
            await posts_service.POSTS.delete(tx, post.id, if_match=tags(post.id, stale_post.version))


async def change_elsewhere(database: Database, user_id: int, post_id: int) -> None:
    """Change the user and the post in a transaction of its own, and commit."""
    async with database.transaction() as tx:
        user = await users_service.USERS.get(tx, user_id)
        post = await posts_service.POSTS.get(tx, post_id)
        assert user is not None
        assert post is not None
        await users_service.update_user(tx, user_id, changes={"name": f"{user.name}!"})
        await posts_service.POSTS.update(tx, post_id, {"title": f"{post.title}!"})


async def test_browsers_may_read_the_etag_when_cors_is_on(
    open_settings: Settings, database: Database, session: AsyncSession
) -> None:
    user = await make_user(session)
    app = create_app(
        open_settings.model_copy(update={"cors_origins": ["https://app.example.com"]}), database=database
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get(f"/users/{user.id}", headers={"Origin": "https://app.example.com"})

    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"etag", "idempotent-replayed"} <= exposed
