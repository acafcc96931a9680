"""Read replicas: which one serves a read that may be slightly old, and how it still sees its reader's writes.

A write's position is where PostgreSQL's log stood once it had committed (`pg_current_wal_flush_lsn()`).
A read that carries one (the `Inkwell-Position` header a write answered, or the last write of the
signed-in user, remembered in Redis for a while) goes to a replica only once that replica has replayed
the log past it: a writer never reads their own write missing, on any replica and any app instance. A
read that carries none goes to any healthy replica. Replicas that are down, or further behind than
`INKWELL_DB_REPLICA_MAX_LAG`, are skipped until a later check finds them well again; every read that
cannot be served by a replica is served by the primary, never refused.
"""

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from inkwell.errors import InkwellError

if TYPE_CHECKING:  # the client is imported only where Redis is configured
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)

POSITION_HEADER = "Inkwell-Position"
# PostgreSQL's text form of a log position (pg_lsn): two hexadecimal halves of a 64-bit number.
_POSITION = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
# Errors that mean a replica cannot be reached or used: the read goes to the primary instead.
UNREACHABLE = (DBAPIError, OSError, TimeoutError)
# How often a read that waits for a replica asks it again how far it has replayed.
WAIT_STEP_SECONDS = 0.002

WRITE_POSITION = text("SELECT pg_current_wal_flush_lsn()::text")
REPLAYED = text("SELECT pg_last_wal_replay_lsn()::text")
REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
)

Target = Literal["replica", "primary"]
# Why a read went where it went (the `reason` label of `inkwell_db_reads_total`).
Reason = Literal[
    "any",  # no position: any healthy replica
    "replayed",  # a position the replica was known to have replayed
    "waited",  # a position the replica replayed while the read waited
    "behind",  # a position no replica replayed in time
    "no_replica",  # every replica down or lagging
    "replica_down",  # the replica chosen failed as the read began
    "no_memory",  # the signed-in user's last write could not be looked up
]


class InvalidPosition(InkwellError):
    detail = f"{POSITION_HEADER} must be a position a write answered, such as 0/16B3748"


def parse_position(value: str) -> int:
    """The position `value` names (PostgreSQL's `0/16B3748`), as a number; InvalidPosition otherwise."""
    match = _POSITION.fullmatch(value.strip())
    if match is None:
        raise InvalidPosition
    return int(match[1], 16) << 32 | int(match[2], 16)


def format_position(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


# --- what a request wrote ---


@dataclass
class Written:
    """What one request committed: its last write's position, and whose the writes were (the signed-in
    user, or the account that just signed in)."""

    position: int | None = None
    user_id: int | None = None


_WRITTEN: ContextVar[Written | None] = ContextVar("inkwell_written", default=None)


@contextlib.contextmanager
def noting_writes() -> Iterator[Written]:
    """Note what the code run inside writes (for one request): `Database.transaction` notes each
    commit's position, and sign-in notes its user."""
    written = Written()
    token = _WRITTEN.set(written)
    try:
        yield written
    finally:
        _WRITTEN.reset(token)


def noting() -> bool:
    """Whether the code running notes what it writes: a request, where there are replicas."""
    return _WRITTEN.get() is not None


def note_position(position: int) -> None:
    written = _WRITTEN.get()
    if written is not None:
        written.position = max(position, written.position or 0)


def note_writer(user_id: int) -> None:
    """Whose writes the request's are: their next reads, on any app instance, must see them."""
    written = _WRITTEN.get()
    if written is not None:
        written.user_id = user_id


# --- where each signed-in user's last write was ---

# Keeps the greater of the stored position and the new one: two writes of one user on two instances may
# finish in either order.
_REMEMBER = """
local known = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > known then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
"""


class Positions:
    """The last write position of each signed-in user, for `ttl` seconds: in Redis, so that every app
    instance reads it, or in this process's memory when no Redis is configured."""

    def __init__(self, redis: "Redis | None", *, prefix: str, ttl: float, size: int = 65_536) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:position"
        self.ttl = ttl
        self.size = size
        self._remember = None if redis is None else redis.register_script(_REMEMBER)
        self._local: dict[int, tuple[int, float]] = {}

    async def remember(self, user_id: int, position: int) -> None:
        if self._remember is None:
            known = self._local.pop(user_id, (0, 0.0))[0]
            self._local[user_id] = (max(known, position), time.monotonic() + self.ttl)
            if len(self._local) > self.size:  # the oldest first: dicts keep their order of insertion
                del self._local[next(iter(self._local))]
            return
        await self._remember(keys=[f"{self.prefix}:{user_id}"], args=[position, round(self.ttl * 1000)])

    async def recall(self, user_id: int) -> int | None:
        """The user's last write position, if they wrote within `ttl`; raises if Redis fails."""
        if self.redis is None:
            found = self._local.get(user_id)
            return found[0] if found is not None and found[1] > time.monotonic() else None
        value = await self.redis.get(f"{self.prefix}:{user_id}")
        return None if value is None else int(value)


# --- the replicas ---


@dataclass(eq=False)
class Replica:
    """One replica: its engine, the last position it was seen to have replayed, its lag and state."""

    name: str  # host:port, never the URL (it may carry a password)
    engine: AsyncEngine
    reader: AsyncEngine = field(init=False)
    replayed: int = 0
    lag: float = 0.0
    state: Literal["ok", "lagging", "down"] = "ok"

    def __post_init__(self) -> None:
        self.reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        event.listen(self.engine.sync_engine, "checkout", _refuse_closed_connection)


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection whose server went away is replaced as it leaves the pool, without a round trip
    (asyncpg notices the server closing it): a replica that restarted costs no request an error."""
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    if driver_connection is not None and driver_connection.is_closed():
        raise DisconnectionError("the replica closed this connection")


Publish = Callable[["Replicas"], None]


class Replicas:
    """The replicas reads may go to, chosen in turn among the healthy ones, and the counts of where
    reads went and why."""

    def __init__(
        self,
        replicas: list[Replica],
        *,
        positions: Positions,
        max_lag: float,
        wait: float,
        interval: float,
    ) -> None:
        self.all = replicas
        self.positions = positions
        self.max_lag = max_lag
        self.wait = wait
        self.interval = interval
        self.reads: Counter[tuple[Target, Reason]] = Counter()
        self._healthy = list(replicas)
        self._turn = 0

    def count(self, target: Target, reason: Reason) -> None:
        self.reads[target, reason] += 1

    def choose(self, position: int | None) -> Replica | None:
        """The next healthy replica in turn, or the next after it known to have replayed `position`;
        None when every replica is down or lagging."""
        healthy = self._healthy
        if not healthy:
            return None
        self._turn = turn = (self._turn + 1) % len(healthy)
        if position is not None:
            for step in range(len(healthy)):
                replica = healthy[(turn + step) % len(healthy)]
                if replica.replayed >= position:
                    return replica
        return healthy[turn]

    async def open(self, replica: Replica, position: int | None) -> AsyncConnection | None:
        """A connection to `replica` that has replayed `position` (waiting `wait` seconds at most), or
        None, counted, when the read must go to the primary."""
        try:
            connection = await replica.reader.connect()
        except UNREACHABLE as exc:
            self.went_down(replica, exc)
            self.count("primary", "replica_down")
            return None
        if position is None or replica.replayed >= position:
            self.count("replica", "any" if position is None else "replayed")
            return connection
        try:
            caught_up = await self._wait_for(replica, connection, position)
        except UNREACHABLE as exc:
            await _close(connection)
            self.went_down(replica, exc)
            self.count("primary", "replica_down")
            return None
        if caught_up:
            self.count("replica", "waited")
            return connection
        await _close(connection)
        self.count("primary", "behind")
        return None

    async def _wait_for(self, replica: Replica, connection: AsyncConnection, position: int) -> bool:
        deadline = time.monotonic() + self.wait
        while True:
            replayed = (await connection.execute(REPLAYED)).scalar_one()
            if replayed is not None:
                replica.replayed = max(replica.replayed, parse_position(replayed))
            if replica.replayed >= position:
                return True
            if time.monotonic() + WAIT_STEP_SECONDS > deadline:
                return False
            await asyncio.sleep(WAIT_STEP_SECONDS)

    def went_down(self, replica: Replica, exc: BaseException) -> None:
        """Skip `replica` until a check finds it answering again."""
        if replica.state != "down":
            logger.warning(
                "replica %s is down (%s): reading elsewhere until it answers",
                replica.name,
                type(exc).__name__,
            )
        self.mark(replica, "down")

    def mark(self, replica: Replica, state: Literal["ok", "lagging", "down"]) -> None:
        """Set the replica's state; reads go to those that are `ok`."""
        replica.state = state
        self._healthy = [r for r in self.all if r.state == "ok"]

    async def check(self, primary_position: int | None) -> None:
        """Ask every replica how far it has replayed; mark each ok, lagging or down."""
        await asyncio.gather(*(self._check(replica, primary_position) for replica in self.all))

    async def _check(self, replica: Replica, primary_position: int | None) -> None:
        try:
            async with asyncio.timeout(max(self.interval, 1.0)), replica.reader.connect() as connection:
                in_recovery, replayed, since_last = (await connection.execute(REPLICA_STATE)).one()
        except Exception as exc:  # whatever fails (a full pool included), reads go elsewhere until it answers
            self.went_down(replica, exc)
            return
        if not in_recovery or replayed is None:  # promoted, or not a replica at all: not one to read from
            self.went_down(replica, RuntimeError("not a replica"))
            return
        replica.replayed = max(replica.replayed, parse_position(replayed))
        if primary_position is not None and replica.replayed >= primary_position:
            replica.lag = 0.0
        else:  # behind (or the primary did not say): the age of the last write it replayed
            replica.lag = float("inf") if since_last is None else max(0.0, float(since_last))
        state: Literal["ok", "lagging"] = "ok" if replica.lag <= self.max_lag else "lagging"
        if state != replica.state:
            logger.info("replica %s is %s (%.1f s behind)", replica.name, state, replica.lag)
        self.mark(replica, state)

    async def watch(self, primary_position: Callable[[], Awaitable[int]], publish: Publish | None) -> None:
        """Check the replicas every `interval` seconds, until cancelled; `publish` then shows the figures."""
        while True:
            position = None
            try:
                async with asyncio.timeout(max(self.interval, 1.0)):
                    position = await primary_position()
            except Exception:  # noqa: S110 (the primary's failures are the requests' to report)
                pass  # the lags are then measured by age alone
            await self.check(position)
            if publish is not None:
                publish(self)
            await asyncio.sleep(self.interval)

    async def dispose(self) -> None:
        for replica in self.all:
            await replica.engine.dispose()


async def write_position(connection: AsyncConnection) -> int:
    """Where the primary's log stands: every write committed on `connection` is at or before it.

    Asked outside a transaction (one round trip, no BEGIN), once the write's transaction has committed:
    the flush position is past the commit's record, which synchronous_commit (on) flushed before COMMIT
    returned. (`pg_current_wal_insert_lsn()` may point past a page header an idle replica only reaches
    with the next write: reads waiting for it were sent to the primary for seconds.)
    """
    await connection.execution_options(isolation_level="AUTOCOMMIT")
    return parse_position((await connection.execute(WRITE_POSITION)).scalar_one())


async def _close(connection: AsyncConnection) -> None:
    with contextlib.suppress(*UNREACHABLE):
        await connection.close()
