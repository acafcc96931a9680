"""Every write that changes a cached list, found by the ORM, invalidates it once it commits.

Sessions made with `session_info(cache)` carry the cache; the listeners below note which namespaces a
flush touched and, at the first one, ask the transaction to invalidate them after its commit. The
namespaces: `posts` (every page of GET /posts) and `user-posts:<id>` (the pages of one user's posts).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from inkwell.cache.store import Cache
from inkwell.config import Settings
from inkwell.db import after_commit, open_sessionmaker
from inkwell.posts.models import Post
from inkwell.redis_client import create_redis
from inkwell.tracing import Tracing
from inkwell.users.models import User

CACHE = "inkwell.cache"
STALE = "inkwell.cache.stale"
EVERYTHING = "*"

POSTS = "posts"
USERS_TABLE = User.__tablename__
POSTS_TABLE = Post.__tablename__


def session_info(cache: Cache | None) -> dict[str, Any]:
    """The `info` for a sessionmaker whose writes must invalidate `cache`."""
    return {} if cache is None else {CACHE: cache}


def create_cache(settings: Settings) -> Cache | None:
    """The cache on `INKWELL_REDIS_URL`, or None when it is unset."""
    redis = create_redis(settings, timeout=settings.redis_timeout)
    return None if redis is None else Cache(redis, prefix=settings.redis_prefix, ttl=settings.cache_ttl)


@asynccontextmanager
async def open_cached_sessionmaker(
    settings: Settings, *, tracing: Tracing | None = None
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """`open_sessionmaker` for code outside requests (the CLI, workers): its writes invalidate the cache.
    Its statements and the cache's commands are traced when `tracing` is given."""
    cache = create_cache(settings)
    if tracing is not None and cache is not None:
        tracing.instrument_redis(cache.redis)
    try:
        async with open_sessionmaker(settings, info=session_info(cache), tracing=tracing) as sessionmaker:
            yield sessionmaker
    finally:
        if cache is not None:
            await cache.redis.aclose()


def user_posts_key(user_id: int) -> str:
    return f"user-posts:{user_id}"


def _stale(session: Session) -> set[str] | None:
    """The session's set of stale namespaces, created (with its after-commit step) on first use."""
    cache: Cache | None = session.info.get(CACHE)
    if cache is None:
        return None
    stale: set[str] | None = session.info.get(STALE)
    if stale is None:
        stale = session.info[STALE] = set()
        after_commit(session, lambda: _invalidate(session, cache))
    return stale


async def _invalidate(session: Session, cache: Cache) -> None:
    stale: set[str] = session.info.pop(STALE, set())
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
    if not changed or (stale := _stale(session)) is None:
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
    if (touches_posts or deletes_users) and (stale := _stale(state.session)) is not None:
        stale.add(EVERYTHING)
