"""PostgreSQL, where the server offers the RUM extension: an index on the search vector that also holds each
post's id, so that it gives a search's matches newest first from the index alone. Inkwell finds it at run
time and uses it for the newest matches (see inkwell.posts.fulltext); without it, nothing changes.

Nothing happens on SQLite and MariaDB, nor on a PostgreSQL server without RUM (`postgresql-15-rum` in
Debian), nor where the migrating role may not create the extension. Like the GIN index, it is not in the
models; `inkwell db check` ignores it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_posts_search_rum"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    offered = bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'rum'")).scalar()
    if not offered:
        return
    try:
        with bind.begin_nested():  # a role that may not create it leaves the search as it was
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS rum"))
    except DBAPIError:
        return
    op.execute(
        f"CREATE INDEX {INDEX} ON posts USING rum (search_vector rum_tsvector_addon_ops, id) "
        "WITH (attach = 'id', to = 'search_vector')"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    try:
        with bind.begin_nested():  # kept where something else in the database uses it
            bind.execute(sa.text("DROP EXTENSION IF EXISTS rum"))
    except DBAPIError:
        pass
