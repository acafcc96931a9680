"""Attempts counted per key (an account, a client address, a mailbox), in the database or in Redis.

An attempt is counted before the work it guards (an Argon2 verification, a mail) and in one atomic
step that also reads the count, so that however many requests arrive at once, no more than the limit
get through in a window: the ones past it are refused without doing the work. Every server process
sees the same counts. A window is fixed: it starts with the first attempt and lasts its length, and
attempts past the limit do not extend it.
"""

import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite

from inkwell.auth.errors import TooManyFailures
from inkwell.auth.models import ThrottleCounter
from inkwell.config import Settings
from inkwell.db import Database, Transaction, rowcount
from inkwell.orm import UTCDateTime, table_of, utcnow

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `max_hits` attempts against `key` in `window` seconds."""

    key: str
    max_hits: int
    window: int


@dataclass(frozen=True, slots=True)
class PasswordAttempt:
    """One try of a password (a sign-in, or a password confirmed before a sensitive change).

    Limited per account from one client address, less strictly per account from all of them, and much
    less strictly per client address (which many people may share: an office, a proxy). So a stranger
    who tries an account's password from one address locks out that address, not the owner elsewhere;
    one who tries from many gets few tries all told; and no one address locks out the rest.

    The account's counts are kept under its security stamp, which a reset or a confirmed new email
    replaces: an owner who proves themselves that way gets the account back at once, however many
    failures a stranger piled up. Every attempt is counted before the password is verified; one that
    succeeds is taken back, so the counts are of failures (and of attempts still in flight).
    """

    from_address: Limit
    account: Limit
    address: Limit

    @classmethod
    def of(cls, settings: Settings, *, email: str, address: str, stamp: str | None) -> "PasswordAttempt":
        """An attempt on the account with `email` (and `stamp`; None for an address no account has)."""
        window = settings.login_failure_window
        # The address by its digest: the key stays short whatever the email, and no count names it.
        account = f"account:{hashlib.sha256(email.lower().encode()).hexdigest()}:{stamp or ''}"
        return cls(
            Limit(f"{account}:{address}", settings.login_max_failures, window),
            Limit(account, settings.login_max_failures_per_account, window),
            Limit(f"address:{address}", settings.login_max_failures_per_address, window),
        )

    @property
    def limits(self) -> list[Limit]:
        return [self.from_address, self.account, self.address]

    async def count(self, throttle: "Throttle") -> None:
        """Count it (committed at once); TooManyFailures when the account (from this address, or from any)
        or the address is past its limit."""
        if (wait := await throttle.hit(self.limits)) is not None:
            raise TooManyFailures(wait)

    async def not_tried(self, throttle: "Throttle") -> None:
        """The password could not be checked (hashing was busy, a 503): the attempt does not count."""
        for limit in self.limits:
            await throttle.refund(limit.key)

    async def succeeded(self, throttle: "Throttle", *, tx: Transaction | None = None) -> None:
        """The password was right: the account's counts start again, and the address gets its try back.

        In the order `hit` locks the keys (sorted), so that a success and an attempt never wait on each
        other's locks.
        """
        for key in sorted((self.account.key, self.from_address.key)):
            await throttle.forget(key, tx=tx)
        await throttle.refund(self.address.key, tx=tx)


def mailbox_limit(settings: Settings, email: str) -> Limit:
    """Mails sent to one address, whoever asks for them."""
    return Limit(f"mail:{email.lower()}", settings.mail_request_limit, settings.mail_request_window)


def mail_sender_limit(settings: Settings, address: str) -> Limit:
    """Mails asked for from one client address."""
    return Limit(
        f"mail-from:{address}", settings.mail_request_limit_per_address, settings.mail_request_window
    )


def sign_up_limit(settings: Settings, address: str) -> Limit:
    """Sign-ups from one client address: each costs an Argon2 hash."""
    return Limit(f"sign-up:{address}", settings.sign_up_limit_per_address, settings.sign_up_window)


def search_limit(settings: Settings, address: str) -> Limit:
    """Searches from one client address: each may rank up to a window of matches."""
    return Limit(f"search:{address}", settings.search_limit_per_address, settings.search_window)


class Throttle(Protocol):
    async def hit(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> int | None:
        """Count one attempt against each limit; the seconds to wait when this attempt is past any of
        them (it must then be refused), or None.

        Counted in a transaction of its own, committed before this returns, unless `tx` is given.
        """

    async def forget(self, key: str, *, tx: Transaction | None = None) -> None:
        """Clear the attempts counted against `key` (an account that just proved its password)."""

    async def refund(self, key: str, *, tx: Transaction | None = None) -> None:
        """Take back one attempt counted against `key` (a client address whose attempt succeeded)."""


def seconds_until(moment: datetime, now: datetime) -> int:
    """A Retry-After value: whole seconds, rounded up, at least 1."""
    return max(1, int((moment - now).total_seconds()) + 1)


class DatabaseThrottle:
    """Counts as rows of `throttle_counters`, one per key, each bumped by one upsert."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def hit(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> int | None:
        return max((await self.exceeded(limits, tx=tx)).values(), default=None)

    async def exceeded(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> dict[str, int]:
        """Count one attempt against each limit; the seconds to wait for each key this attempt is past."""
        now = utcnow()
        waits = {}
        async with self._writing(tx) as writing:
            # Always in the same order, so that two requests sharing keys never wait on each other's locks.
            for limit in sorted(limits, key=lambda limit: limit.key):
                hits, window_ends = await _bump(writing, limit, now)
                if hits > limit.max_hits:
                    waits[limit.key] = seconds_until(window_ends, now)
        return waits

    async def forget(self, key: str, *, tx: Transaction | None = None) -> None:
        async with self._writing(tx) as writing:
            await writing.connection.execute(delete(_COUNTERS).where(_COUNTERS.c.key == key))

    async def refund(self, key: str, *, tx: Transaction | None = None) -> None:
        async with self._writing(tx) as writing:
            await writing.connection.execute(
                update(_COUNTERS)
                .where(_COUNTERS.c.key == key, _COUNTERS.c.hits > 0)
                .values(hits=_COUNTERS.c.hits - 1)
            )

    @asynccontextmanager
    async def _writing(self, tx: Transaction | None) -> AsyncIterator[Transaction]:
        """`tx`, or a transaction of its own, committed when the block ends."""
        if tx is not None:
            yield tx
            return
        async with self.database.transaction() as own:
            yield own


_COUNTERS = table_of(ThrottleCounter)


async def _bump(tx: Transaction, limit: Limit, now: datetime) -> tuple[int, datetime]:
    """Add one to the key's count (starting a new window if the last one ended); the count and the
    window's end after it. The upsert locks the row, so the read that follows sees this count."""
    await tx.connection.execute(_upsert(tx.connection.dialect.name, limit, now))
    query = select(_COUNTERS.c.hits, _COUNTERS.c.window_ends).where(_COUNTERS.c.key == limit.key)
    row = (await tx.connection.execute(query)).one()
    return row.hits, row.window_ends


def _upsert(dialect: str, limit: Limit, now: datetime) -> Any:
    """INSERT the key's first attempt, or count one more on the row that exists: one statement."""
    new_end = now + timedelta(seconds=limit.window)
    ended = _COUNTERS.c.window_ends <= _at(now)
    # MariaDB assigns left to right, each assignment seeing the ones before it: `hits` must be set
    # while `window_ends` still holds the old value. PostgreSQL and SQLite read the old row for both.
    assignments = [
        ("hits", case((ended, 1), else_=_COUNTERS.c.hits + 1)),
        ("window_ends", case((ended, _at(new_end)), else_=_COUNTERS.c.window_ends)),
    ]
    row = {"key": limit.key, "hits": 1, "window_ends": new_end}
    if dialect in ("mysql", "mariadb"):
        return mysql.insert(_COUNTERS).values(row).on_duplicate_key_update(assignments)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_COUNTERS)
        .values(row)
        .on_conflict_do_update(index_elements=[_COUNTERS.c.key], set_=dict(assignments))
    )


def _at(moment: datetime) -> Any:
    return literal(moment, UTCDateTime())


async def purge_ended_windows(tx: Transaction, *, now: datetime) -> int:
    """Delete the counts whose window has ended (they count nothing any more); how many."""
    return rowcount(await tx.connection.execute(delete(_COUNTERS).where(_COUNTERS.c.window_ends <= now)))


# INCR, and the window's expiry set by the first attempt only: one round trip, atomic in Redis.
_HIT_SCRIPT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {hits, redis.call('TTL', KEYS[1])}
"""
_REFUND_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisThrottle:
    """Counts in Redis (`<prefix>:throttle:<key>`), each key expiring with its window.

    When Redis fails, the database counts instead, so nothing is ever left unthrottled.
    """

    def __init__(
        self, redis: "Redis", *, prefix: str, fallback: "DatabaseThrottle | ProcessThrottle"
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:throttle"
        self.fallback = fallback

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    async def hit(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> int | None:
        return max((await self.exceeded(limits, tx=tx)).values(), default=None)

    async def exceeded(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> dict[str, int]:
        """Count one attempt against each limit; the seconds to wait for each key this attempt is past."""
        from redis.exceptions import RedisError

        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for limit in limits:
                    pipe.eval(_HIT_SCRIPT, 1, self._key(limit.key), limit.window)
                replies = await pipe.execute()
        except RedisError as exc:
            logger.warning("throttle: Redis unavailable (%s), counting in the database", exc)
            return await self.fallback.exceeded(limits, tx=tx)
        return {
            limit.key: max(1, int(ttl))
            for limit, (hits, ttl) in zip(limits, replies, strict=True)
            if hits > limit.max_hits
        }

    async def forget(self, key: str, *, tx: Transaction | None = None) -> None:
        from redis.exceptions import RedisError

        try:
            await self.redis.delete(self._key(key))
        except RedisError:
            await self.fallback.forget(key, tx=tx)

    async def refund(self, key: str, *, tx: Transaction | None = None) -> None:
        from redis.exceptions import RedisError

        try:
            await self.redis.eval(_REFUND_SCRIPT, 1, self._key(key))  # type: ignore[misc]
        except RedisError:
            await self.fallback.refund(key, tx=tx)


class ProcessThrottle:
    """Counts in this process's memory, each key's window as the others count it: for limits that guard
    the server's time rather than an account (searches), where writing a row for every request would cost
    more than the request. Each server process counts on its own, so N processes admit up to N times the
    limit; with Redis configured, the counts are Redis's, shared, and these only while Redis is away.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[int, float]] = {}

    async def hit(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> int | None:
        return max((await self.exceeded(limits, tx=tx)).values(), default=None)

    async def exceeded(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> dict[str, int]:
        """Count one attempt against each limit; the seconds to wait for each key this attempt is past."""
        now = self.clock()
        if len(self._windows) > REMEMBERED_REFUSALS:
            self._windows = {key: window for key, window in self._windows.items() if window[1] > now}
        waits = {}
        for limit in limits:
            hits, ends = self._windows.get(limit.key, (0, now))
            if ends <= now:  # the last window ended: a new one starts
                hits, ends = 0, now + limit.window
            self._windows[limit.key] = (hits + 1, ends)
            if hits + 1 > limit.max_hits:
                waits[limit.key] = max(1, math.ceil(ends - now))
        return waits

    async def forget(self, key: str, *, tx: Transaction | None = None) -> None:
        self._windows.pop(key, None)

    async def refund(self, key: str, *, tx: Transaction | None = None) -> None:
        hits, ends = self._windows.get(key, (0, 0.0))
        if hits > 0:
            self._windows[key] = (hits - 1, ends)


class RefusalsRemembered:
    """A throttle that remembers, in this process, the keys it found past their limit until their window
    ends, and refuses an attempt on one of them at once: no write, no round trip, no wait for a turn.

    Exact, because a window is fixed and attempts past the limit do not extend it: every attempt on such
    a key until the window ends would be refused anyway. A flood from one address that is already refused
    costs the server next to nothing. Other processes learn the same at their own first refusal.
    """

    def __init__(
        self, throttle: "DatabaseThrottle | RedisThrottle", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.throttle = throttle
        self.clock = clock
        self._refused_until: dict[str, float] = {}

    async def hit(self, limits: Sequence[Limit], *, tx: Transaction | None = None) -> int | None:
        now = self.clock()
        if waits := [math.ceil(until - now) for limit in limits if (until := self._until(limit.key, now))]:
            return max(waits)
        exceeded = await self.throttle.exceeded(limits, tx=tx)
        if exceeded:
            self._forget_ended(now)
            for key, wait in exceeded.items():
                self._refused_until[key] = now + wait
        return max(exceeded.values(), default=None)

    async def forget(self, key: str, *, tx: Transaction | None = None) -> None:
        self._refused_until.pop(key, None)
        await self.throttle.forget(key, tx=tx)

    async def refund(self, key: str, *, tx: Transaction | None = None) -> None:
        await self.throttle.refund(key, tx=tx)

    def _until(self, key: str, now: float) -> float | None:
        until = self._refused_until.get(key)
        return until if until is not None and until > now else None

    def _forget_ended(self, now: float) -> None:
        if len(self._refused_until) > REMEMBERED_REFUSALS:
            self._refused_until = {key: until for key, until in self._refused_until.items() if until > now}


# Past this many remembered keys, those whose window ended are dropped (at each new refusal).
REMEMBERED_REFUSALS = 10_000


def throttle_for(database: Database, settings: Settings) -> Throttle:
    """The app's throttle: counting in Redis when it is configured, in the database otherwise (and while
    Redis fails), and remembering in the process what it refused."""
    in_database = DatabaseThrottle(database)
    if database.cache is None:
        return RefusalsRemembered(in_database)
    redis = RedisThrottle(database.cache.redis, prefix=settings.redis_prefix, fallback=in_database)
    return RefusalsRemembered(redis)


def traffic_throttle_for(database: Database, settings: Settings) -> Throttle:
    """The app's throttle of requests that cost the server time (searches): counting in Redis when it is
    configured, else (and while Redis fails) in each process; never a write to the database."""
    in_process = ProcessThrottle()
    if database.cache is None:
        return in_process
    return RefusalsRemembered(
        RedisThrottle(database.cache.redis, prefix=settings.redis_prefix, fallback=in_process)
    )
