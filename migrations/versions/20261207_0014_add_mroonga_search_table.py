"""MariaDB, where the server has the Mroonga engine: a full-text table beside `posts`, `posts_search`, which
finds a search's newest matches without building the whole list of every match as InnoDB's FULLTEXT index
does. Inkwell finds it at run time and uses it (see inkwell.posts.fulltext); without it, nothing changes.

Mroonga keeps no transactions, so the table cannot simply mirror `posts`: a rolled-back edit would stay in
it. It holds instead every text a post has been written with, keyed by the post's id and a digest of its
title and body, and a search counts a row only where the post, as the search's transaction sees it, has
that digest. Triggers add a row for each text written; what no post holds any more (an edit's old text, a
deleted post, a rolled-back write) is removed by the background purge once it is an hour old, and the purge
adds back a text it finds missing. The text is stored with every run of what is not a letter or a digit
made a space, so that Mroonga's tokenizer splits words where the query parser does.

Nothing happens on SQLite and PostgreSQL, nor on a MariaDB server without Mroonga (Debian's
`mariadb-plugin-mroonga`, then `INSTALL SONAME 'ha_mroonga'`). Like the other full-text objects, it is not in
the models; `inkwell db check` ignores it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "posts_search"
TRIGGERS = ("posts_search_insert", "posts_search_update")


def _digest(row: str) -> str:
    return f"UNHEX(MD5(CONCAT_WS(CHAR(0), {row}.title, {row}.body)))"


def _words(column: str) -> str:
    return rf"REGEXP_REPLACE({column}, '[^\\p{{L}}\\p{{N}}]+', ' ')"


def _row_of(row: str) -> str:
    return f"{row}.id, {_digest(row)}, {_words(f'{row}.title')}, {_words(f'{row}.body')}"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "mysql":
        return
    support = bind.execute(sa.text("SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga'"))
    if support.scalar() not in ("YES", "DEFAULT"):
        return
    op.execute(
        f"CREATE TABLE {TABLE} ("
        "id INTEGER NOT NULL, "
        "digest BINARY(16) NOT NULL, "
        "title TEXT NOT NULL, "
        "body TEXT NOT NULL, "
        "written_at DATETIME(6) NOT NULL DEFAULT UTC_TIMESTAMP(6), "
        "PRIMARY KEY (id, digest), "
        "FULLTEXT INDEX ix_posts_search_text (title, body) COMMENT 'tokenizer \"TokenDelimit\"'"
        ") ENGINE=Mroonga DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci"
    )
    op.execute(
        f"CREATE TRIGGER posts_search_insert AFTER INSERT ON posts FOR EACH ROW "
        f"REPLACE INTO {TABLE} (id, digest, title, body) SELECT {_row_of('NEW')}"
    )
    op.execute(
        f"CREATE TRIGGER posts_search_update AFTER UPDATE ON posts FOR EACH ROW "
        f"IF NOT (NEW.title <=> OLD.title AND NEW.body <=> OLD.body) THEN "
        f"REPLACE INTO {TABLE} (id, digest, title, body) SELECT {_row_of('NEW')}; "
        f"END IF"
    )
    op.execute(f"INSERT INTO {TABLE} (id, digest, title, body) SELECT {_row_of('posts')} FROM posts")


def downgrade() -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute(f"DROP TABLE IF EXISTS {TABLE}")
