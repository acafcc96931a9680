"""What Inkwell's request path is measured against, route for route, on the same PostgreSQL data.

- asyncpg: FastAPI with Inkwell's own routes, request and response models (so the same validation and
  serialization), but hand-written SQL on an asyncpg pool: no ORM, no SQLAlchemy, no middleware, and
  no dependency to solve. The ceiling of what FastAPI can serve on the bare driver.
- seed: the tutorial Inkwell started from, in its async variant: an ORM `AsyncSession` behind a `get_db`
  dependency, each route as the tutorial writes it (and a `bio` column, as its exercise adds).

Both answer the benchmark's scenarios (bench/scenarios.py); neither does what Inkwell adds (ETags,
idempotency, keyset pages, the cache, logs, metrics), which is the point of measuring against them.
Both are served as Inkwell is (bench/serving.py).
"""

import argparse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, EmailStr, Field
from sqlalchemy import DateTime, ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bench.serving import collecting_garbage_as_inkwell, open_pool, serve
from inkwell.posts.schemas import PostCreate, PostRead
from inkwell.users.models import STAMP_LENGTH, new_stamp
from inkwell.users.schemas import OpenUserCreate, UserRead, UserUpdate

SELECT_USERS = "SELECT id, email, name, bio, created_at, updated_at FROM users"
SELECT_POSTS = "SELECT id, title, body, author_id, created_at, updated_at FROM posts"
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0)]


def asyncpg_app(dsn: str, *, pool_size: int) -> FastAPI:
    """Inkwell's routes and models on asyncpg with hand-written SQL."""
    # The routes read the pool from here: a dependency returning it cost FastAPI a solve per request.
    db: asyncpg.Pool

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nonlocal db
        async with open_pool(dsn, size=pool_size) as db:
            with collecting_garbage_as_inkwell():
                yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/users/{user_id}", response_model=UserRead)
    async def read_user(user_id: int) -> Any:
        return _found(await db.fetchrow(SELECT_USERS + " WHERE id = $1", user_id))

    @app.get("/users", response_model=list[UserRead])
    async def list_users(limit: Limit = 50, offset: Offset = 0, after: int = 0) -> Any:
        query = SELECT_USERS + " WHERE id > $1 ORDER BY id LIMIT $2 OFFSET $3"
        return [dict(row) for row in await db.fetch(query, after, limit, offset)]

    @app.get("/users/{user_id}/posts", response_model=list[PostRead])
    async def list_user_posts(user_id: int, limit: Limit = 50, offset: Offset = 0) -> Any:
        query = SELECT_POSTS + " WHERE author_id = $1 ORDER BY id LIMIT $2 OFFSET $3"
        return [dict(row) for row in await db.fetch(query, user_id, limit, offset)]

    @app.get("/posts/{post_id}", response_model=PostRead)
    async def read_post(post_id: int) -> Any:
        return _found(await db.fetchrow(SELECT_POSTS + " WHERE id = $1", post_id))

    @app.get("/posts", response_model=list[PostRead])
    async def list_posts(limit: Limit = 50, offset: Offset = 0) -> Any:
        query = SELECT_POSTS + " ORDER BY id DESC LIMIT $1 OFFSET $2"
        return [dict(row) for row in await db.fetch(query, limit, offset)]

    @app.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
    async def create_user(payload: OpenUserCreate) -> Any:
        now = datetime.now(UTC)
        query = (
            "INSERT INTO users (email, name, bio, created_at, updated_at, security_stamp) "
            "VALUES ($1, $2, $3, $4, $4, $5) RETURNING id, email, name, bio, created_at, updated_at"
        )
        values = (payload.email, payload.name, payload.bio, now, new_stamp())
        try:
            return _found(await db.fetchrow(query, *values))
        except asyncpg.UniqueViolationError:
            raise HTTPException(status.HTTP_409_CONFLICT, "Email already registered") from None

    @app.post("/users/{user_id}/posts", response_model=PostRead, status_code=status.HTTP_201_CREATED)
    async def create_post(user_id: int, payload: PostCreate) -> Any:
        now = datetime.now(UTC)
        query = (
            "INSERT INTO posts (title, body, author_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) "
            "RETURNING id, title, body, author_id, created_at, updated_at"
        )
        try:
            return _found(await db.fetchrow(query, payload.title, payload.body, user_id, now))
        except asyncpg.ForeignKeyViolationError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "User not found") from None

    @app.patch("/users/{user_id}", response_model=UserRead)
    async def update_user(user_id: int, payload: UserUpdate) -> Any:
        changes = payload.model_dump(exclude_unset=True)
        # Column names come from UserUpdate's fields (email, name, bio), never from the client.
        assignments = "".join(f", {column} = ${n}" for n, column in enumerate(changes, start=3))
        query = (
            f"UPDATE users SET updated_at = $2{assignments}, version = version + 1 "  # noqa: S608
            "WHERE id = $1 RETURNING id, email, name, bio, created_at, updated_at"
        )
        return _found(await db.fetchrow(query, user_id, datetime.now(UTC), *changes.values()))

    return app


def _found(row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not found")
    return dict(row)


# --- the tutorial's async variant ---


class SeedBase(DeclarativeBase):
    pass


class SeedUser(SeedBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
    # Inkwell's table requires these; the tutorial's own has none of them.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
    is_admin: Mapped[bool] = mapped_column(default=False)
    security_stamp: Mapped[str] = mapped_column(String(STAMP_LENGTH), default=new_stamp)

    posts: Mapped[list["SeedPost"]] = relationship(back_populates="author")


class SeedPost(SeedBase):
    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(String(10_000))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))

    author: Mapped[SeedUser] = relationship(back_populates="posts")


class SeedUserCreate(BaseModel):
    email: EmailStr
    name: Annotated[str, Field(min_length=1, max_length=100)]
    bio: str | None = None


class SeedUserUpdate(BaseModel):
    email: EmailStr | None = None
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    bio: str | None = None


class SeedUserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: EmailStr
    name: str
    bio: str | None
    created_at: datetime


class SeedPostCreate(BaseModel):
    title: str
    body: str


class SeedPostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    body: str
    author_id: int


def seed_app(url: str, *, pool_size: int) -> FastAPI:
    """The tutorial's routes on an AsyncSession, as it writes them (posts lists added in its style)."""
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_db() -> AsyncIterator[AsyncSession]:
        async with sessions() as db:
            yield db

    DB = Annotated[AsyncSession, Depends(get_db)]

    # Served as Inkwell is: its garbage collector settings, and the engine closed at shutdown.
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            with collecting_garbage_as_inkwell():
                yield
        finally:
            await engine.dispose()

    app = FastAPI(lifespan=lifespan, title="Users API", openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/users", response_model=SeedUserOut, status_code=status.HTTP_201_CREATED)
    async def create_user(payload: SeedUserCreate, db: DB) -> SeedUser:
        existing = await db.scalar(select(SeedUser).where(SeedUser.email == payload.email))
        if existing is not None:
            raise HTTPException(status_code=409, detail="Email already registered")
        user = SeedUser(email=payload.email, name=payload.name, bio=payload.bio)
        db.add(user)
        await db.commit()
        await db.refresh(user)
        return user

    @app.get("/users", response_model=list[SeedUserOut])
    async def list_users(db: DB, limit: int = 50, offset: int = 0) -> Sequence[SeedUser]:
        stmt = select(SeedUser).order_by(SeedUser.id).limit(limit).offset(offset)
        return list(await db.scalars(stmt))

    @app.get("/users/{user_id}", response_model=SeedUserOut)
    async def read_user(user_id: int, db: DB) -> SeedUser:
        user = await db.get(SeedUser, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        return user

    @app.patch("/users/{user_id}", response_model=SeedUserOut)
    async def update_user(user_id: int, payload: SeedUserUpdate, db: DB) -> SeedUser:
        user = await db.get(SeedUser, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        for field, value in payload.model_dump(exclude_unset=True).items():
            setattr(user, field, value)
        await db.commit()
        await db.refresh(user)
        return user

    @app.post("/users/{user_id}/posts", response_model=SeedPostOut, status_code=201)
    async def create_post(user_id: int, payload: SeedPostCreate, db: DB) -> SeedPost:
        author = await db.get(SeedUser, user_id)
        if author is None:
            raise HTTPException(status_code=404, detail="User not found")
        post = SeedPost(title=payload.title, body=payload.body, author=author)
        db.add(post)
        await db.commit()
        await db.refresh(post)
        return post

    @app.get("/users/{user_id}/posts", response_model=list[SeedPostOut])
    async def list_user_posts(user_id: int, db: DB) -> Sequence[SeedPost]:
        user = await db.get(SeedUser, user_id)
        if user is None:
            raise HTTPException(status_code=404, detail="User not found")
        # The tutorial reads `user.posts`; async needs the load spelled out.
        return list(await db.scalars(select(SeedPost).where(SeedPost.author_id == user_id)))

    @app.get("/posts/{post_id}", response_model=SeedPostOut)
    async def read_post(post_id: int, db: DB) -> SeedPost:
        post = await db.get(SeedPost, post_id)
        if post is None:
            raise HTTPException(status_code=404, detail="Post not found")
        return post

    @app.get("/posts", response_model=list[SeedPostOut])
    async def list_posts(db: DB, limit: int = 50, offset: int = 0) -> Sequence[SeedPost]:
        stmt = select(SeedPost).order_by(SeedPost.id.desc()).limit(limit).offset(offset)
        return list(await db.scalars(stmt))

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one of the benchmark's peers.")
    parser.add_argument("which", choices=["asyncpg", "seed"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True, help="the PostgreSQL database (postgresql://...)")
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args(argv)
    if args.which == "asyncpg":
        app = asyncpg_app(args.dsn, pool_size=args.pool_size)
    else:
        url = args.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        app = seed_app(url, pool_size=args.pool_size)
    serve(app, args.port)


if __name__ == "__main__":
    main()
