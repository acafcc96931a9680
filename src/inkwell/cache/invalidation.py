"""Every write that changes a cached list invalidates it once its transaction commits.

A Core write names what it changed itself (`invalidate_after_commit`); ORM writes are found by the
listeners below, on the sessions of a `Database` that has a cache. Either way the namespaces are noted
on the transaction and dropped once, after its commit. The namespaces: `posts` (every page of
GET /posts) and `user-posts:<id>` (the pages of one user's posts).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import Database, Transaction, open_database, transaction_of
from inkwell.posts.models import Post
from inkwell.redis_client import create_redis
from inkwell.tracing import Tracing
from inkwell.users.models import User

STALE = "inkwell.cache.stale"
EVERYTHING = "*"

POSTS = "posts"
USERS_TABLE = User.__tablename__
POSTS_TABLE = Post.__tablename__


def create_cache(settings: Settings) -> Cache | None:
    """The cache on `INKWELL_REDIS_URL`, or None when it is unset."""
    redis = create_redis(settings, timeout=settings.redis_timeout)
    return None if redis is None else Cache(redis, prefix=settings.redis_prefix, ttl=settings.cache_ttl)


@asynccontextmanager
async def open_cached_database(
    settings: Settings, *, tracing: Tracing | None = None
) -> AsyncIterator[Database]:
    """`open_database` for code outside requests (the CLI, workers): its writes invalidate the cache.
    Its statements and the cache's commands are traced when `tracing` is given."""
    cache = create_cache(settings)
    if tracing is not None and cache is not None:
        tracing.instrument_redis(cache.redis)
    try:
        async with open_database(settings, cache=cache, tracing=tracing) as database:
            yield database
    finally:
        if cache is not None:
            await cache.redis.aclose()


def user_posts_key(user_id: int) -> str:
    return f"user-posts:{user_id}"


def invalidate_after_commit(tx: Transaction, *namespaces: str) -> None:
    """Drop the cached pages of `namespaces` once `tx` commits (nothing to do without a cache)."""
    if (stale := _stale(tx)) is not None:
        stale.update(namespaces)


def _stale(tx: Transaction | None) -> set[str] | None:
    """The transaction's set of stale namespaces, created (with its after-commit step) on first use."""
    if tx is None or tx.cache is None:
        return None
    stale: set[str] | None = tx.info.get(STALE)
    if stale is None:
        stale = tx.info[STALE] = set()
        tx.after_commit(lambda: _invalidate(tx.cache, stale))
    return stale


async def _invalidate(cache: Cache | None, stale: set[str]) -> None:
    assert cache is not None
    if EVERYTHING in stale:
        await cache.invalidate_all()
    else:
        await cache.invalidate(stale)


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _flush: UOWTransaction) -> None:
    # A post written, changed or deleted changes both lists it is on; a user deleted takes their posts
    # (ON DELETE CASCADE, out of the ORM's sight), and a new user may reuse a deleted one's id.
    changed = [
        obj
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, Post) or (isinstance(obj, User) and obj not in session.dirty)
    ]
    if not changed or (stale := _stale(transaction_of(session))) is None:
        return
    for obj in changed:
        if isinstance(obj, Post):
            stale.update((POSTS, user_posts_key(obj.author_id)))
        else:
            stale.update((POSTS, user_posts_key(obj.id)))


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_writes(state: ORMExecuteState) -> None:
    # A statement says nothing about which rows it touched: one on posts, or one that may delete users
    # (and so their posts), drops the whole cache. Users inserted or updated change no cached list.
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    # A Core statement names the table itself (an ORM one may name it annotated: compare names).
    table = getattr(getattr(state.statement, "table", None), "name", None)
    touches_posts = table == POSTS_TABLE or any(mapper.class_ is Post for mapper in state.all_mappers)
    deletes_users = state.is_delete and (
        table == USERS_TABLE or any(mapper.class_ is User for mapper in state.all_mappers)
    )
    if (touches_posts or deletes_users) and (stale := _stale(transaction_of(state.session))) is not None:
        stale.add(EVERYTHING)
