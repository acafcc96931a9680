"""A failover that loses nothing: the primary dies under a load of writes, its synchronous standby is
promoted, and every write a client was told succeeded is on the new primary.

The app's DATABASE_URL names both servers with `target_session_attrs=primary` (SQLAlchemy's form for
asyncpg), as docs/operations.md has it for a safety net: no restart, no setting changed. Every commit
waits until the standby has it on disk (`synchronous_standby_names`), so a 201 means the standby has it.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass
from itertools import count

import httpx
import pytest
from sqlalchemy import text

from inkwell.config import Settings
from inkwell.db import create_engine
from tests.replicas.serving import migrated, running
from tests.replication import Pair, streaming_pair

pytestmark = pytest.mark.slow

WORKERS = 8
# Every wait on the database is bounded, so that no request outlives the failover by much.
TIMEOUTS = {"db_connect_timeout": 1.5, "db_pool_timeout": 2.0, "db_statement_timeout": 3.0}
RESUMED_WITHIN = 5.0  # seconds from the promotion to the first write acknowledged by the new primary


@dataclass(frozen=True)
class Answer:
    started: float
    finished: float
    status: int
    title: str
    retry_after: str | None


class Writers:
    """Clients that create posts without pause, recording every answer."""

    def __init__(self, client: httpx.AsyncClient, author_id: int) -> None:
        self.client = client
        self.path = f"/users/{author_id}/posts"
        self.answers: list[Answer] = []
        self._numbers = count()
        self._run = uuid.uuid4().hex[:8]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), timeout=30)

    async def _write(self) -> None:
        while not self._stop.is_set():
            title = f"failover {self._run} {next(self._numbers)}"
            started = time.monotonic()
            response = await self.client.post(self.path, json={"title": title, "body": "Acknowledged?"})
            answer = Answer(
                started, time.monotonic(), response.status_code, title, response.headers.get("retry-after")
            )
            self.answers.append(answer)
            await asyncio.sleep(0.005)

    def acknowledged_since(self, moment: float) -> list[Answer]:
        return [a for a in self.answers if a.status == 201 and a.finished >= moment]


def both_hosts(pair: Pair) -> str:
    hosts = f"host={pair.primary.host}&host={pair.replica.host}"
    return f"postgresql://postgres@/postgres?{hosts}&target_session_attrs=primary"


async def test_a_failover_to_a_synchronous_standby_loses_no_acknowledged_write() -> None:
    with streaming_pair(synchronous=True) as pair:
        await migrated(pair)
        settings = Settings(database_url=both_hosts(pair), _env_file=None, auth=False)
        settings = settings.model_copy(update={"db_pool_size": WORKERS, **TIMEOUTS})
        async with running(settings) as client:
            author = await client.post("/users", json={"email": "author@example.com", "name": "Author"})
            writers = Writers(client, author.json()["id"])
            writers.start()
            await asyncio.sleep(1.0)

            stopped_at = time.monotonic()
            await asyncio.to_thread(pair.primary.stop, "immediate")
            await asyncio.to_thread(pair.replica.promote)
            promoted_at = time.monotonic()
            for _ in range(int(RESUMED_WITHIN * 20) * 2):  # until writes are acknowledged again
                if writers.acknowledged_since(promoted_at):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # and a few more, on the new primary
            await writers.stop()

        engine = create_engine(Settings(database_url=pair.replica.url, _env_file=None))
        async with engine.connect() as connection:
            stored = set((await connection.execute(text("SELECT title FROM posts"))).scalars())
        await engine.dispose()

    answers = writers.answers
    acknowledged = [a for a in answers if a.status == 201]
    lost = [a.title for a in acknowledged if a.title not in stored]
    errors = [a for a in answers if a.status >= 500 and a.status != 503]
    unavailable = [a for a in answers if a.status == 503]
    after = writers.acknowledged_since(promoted_at)
    resumed = after[0].finished - promoted_at if after else float("inf")
    print(
        f"\nfailover: {len(acknowledged)} writes acknowledged, {len(lost)} lost, {len(errors)} answered 5xx "
        f"other than 503, {len(unavailable)} answered 503; primary stopped to standby promoted "
        f"{promoted_at - stopped_at:.2f} s; first write acknowledged {resumed:.2f} s after the promotion"
    )
    assert lost == []
    assert errors == []
    assert all(a.retry_after == "1" for a in unavailable)
    assert [a.status for a in answers if a.status not in (201, 503)] == []
    assert resumed <= RESUMED_WITHIN
    assert len(acknowledged) >= 2 * WORKERS
