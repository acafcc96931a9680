"""Read-after-write across two server processes sharing one database and one Redis."""

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from inkwell.db import Database
from tests.databases import Backend
from tests.processes import Server, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(
    process_backend: Backend,
    database_url: str,
    redis_server: str,
    redis_prefix: str,
    committed_database: Database,
    tmp_path: Path,
) -> Iterator[list[str]]:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("INKWELL_")},
        "DATABASE_URL": database_url,
        "INKWELL_REDIS_URL": redis_server,
        "INKWELL_REDIS_PREFIX": redis_prefix,
        "HOME": str(tmp_path),
        "INKWELL_AUTH": "off",
    }
    servers: list[Server] = []
    with ExitStack() as stack:
        servers = [stack.enter_context(serving(env, tmp_path)) for _ in range(2)]
        yield [server.url for server in servers]
    for server in servers:
        assert server.process.returncode == 0, server.stderr
        assert "Traceback" not in server.stderr, server.stderr


def test_a_write_in_one_process_is_read_back_in_the_other(two_servers: list[str]) -> None:
    one, other = (httpx.Client(base_url=url, timeout=10) for url in two_servers)
    with one, other:
        user = one.post("/users", json={"email": "shared@example.com", "name": "Shared"}).json()
        post = one.post(f"/users/{user['id']}/posts", json={"title": "t0", "body": "b"}).json()
        reads = [f"/posts/{post['id']}", "/posts", f"/users/{user['id']}/posts"]

        for round_ in range(1, 6):
            writer, reader = (one, other) if round_ % 2 else (other, one)
            for client in (one, other):  # both processes have it cached
                assert all(client.get(path).status_code == 200 for path in reads)

            writer.patch(f"/posts/{post['id']}", json={"title": f"t{round_}"})
            writer.patch(f"/users/{user['id']}", json={"name": f"n{round_}"})

            assert reader.get(f"/posts/{post['id']}").json()["title"] == f"t{round_}"
            assert reader.get("/posts").json()[0]["title"] == f"t{round_}"
            assert reader.get(f"/users/{user['id']}/posts").json()[0]["title"] == f"t{round_}"
            assert reader.get(f"/users/{user['id']}").json()["name"] == f"n{round_}"

        other.delete(f"/users/{user['id']}")
        assert [one.get(path).status_code for path in reads] == [404, 200, 404]
        assert one.get("/posts").json() == []
