"""Full-text search of posts: each database's own index, kept in the same transaction as every write.

PostgreSQL: a generated tsvector column (title weighted A, body B) with a GIN index. SQLite: an FTS5
table over posts (external content) kept in step by triggers. MariaDB: a FULLTEXT index on (title, body).
None of them is in the models; `inkwell db check` ignores them (see inkwell.posts.fulltext).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

import string
from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# ASCII punctuation becomes space before PostgreSQL's parser sees the text: otherwise it keeps
# `example.com`, `a@b.org`, `3.14` or `/usr/bin` as single tokens, where the other databases (and the
# query parser) split them into words. The 'simple' configuration: no stemming and no stop words, as in
# SQLite's and MariaDB's indexes, for text in any language.
_PUNCTUATION = string.punctuation.replace("'", "''")
_SPACES = " " * len(string.punctuation)


def _words(column: str) -> str:
    return f"to_tsvector('simple'::regconfig, translate({column}, '{_PUNCTUATION}', '{_SPACES}'))"


_VECTOR = f"setweight({_words('title')}, 'A') || setweight({_words('body')}, 'B')"

_FTS_TRIGGERS = {
    "posts_fts_insert": "AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts (rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "posts_fts_delete": "AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_fts (posts_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "END",
    "posts_fts_update": "AFTER UPDATE OF title, body ON posts BEGIN "
    "INSERT INTO posts_fts (posts_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO posts_fts (rowid, title, body) VALUES (new.id, new.title, new.body); END",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ({_VECTOR}) STORED"
        )
        op.create_index("ix_posts_search_vector", "posts", ["search_vector"], postgresql_using="gin")
    elif dialect == "sqlite":
        # Accents are kept apart, as PostgreSQL's 'simple' configuration does.
        op.execute(
            "CREATE VIRTUAL TABLE posts_fts USING fts5(title, body, content='posts', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 0')"
        )
        for name, definition in _FTS_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {definition}")
        op.execute("INSERT INTO posts_fts (posts_fts) VALUES ('rebuild')")  # the posts already there
    else:
        op.create_index("ix_posts_fulltext", "posts", ["title", "body"], mysql_prefix="FULLTEXT")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_index("ix_posts_search_vector", table_name="posts")
        op.drop_column("posts", "search_vector")
    elif dialect == "sqlite":
        for name in _FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE posts_fts")
    else:
        op.drop_index("ix_posts_fulltext", table_name="posts")
