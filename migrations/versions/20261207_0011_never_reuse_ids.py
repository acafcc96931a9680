"""Ids are never used twice, and what is keyed by a user goes with the user.

SQLite gave a deleted highest id to the next row (`INTEGER PRIMARY KEY` without `AUTOINCREMENT`): the
next sign-up inherited the deleted account's idempotency keys and could match its old ETags. Its tables
with integer ids are rebuilt with `AUTOINCREMENT` (PostgreSQL's sequences and MariaDB's counters never
hand out an id twice). Idempotency keys and outbox jobs gain a `user_id` that cascades with the user:
a deleted account's keys, and the mail still pending for it, go with it.

SQLite's rebuild copies each table and drops the old one; foreign keys are off meanwhile (see
migrations/env.py), or dropping `users` would delete every row that refers to it. Triggers on a rebuilt
table (the search index's, on posts) are created again as they were.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables with integer ids, which SQLite rebuilds with AUTOINCREMENT.
ID_TABLES = ("users", "posts", "idempotency_keys", "outbox")
# Tables whose rows belong to a user when `user_id` is set.
USER_KEYED = ("idempotency_keys", "outbox")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _require_foreign_keys_off()
        for table in ID_TABLES:
            _rebuild(table, autoincrement=True, add_user_id=table in USER_KEYED)
        _check_foreign_keys()
    else:
        for table in USER_KEYED:
            op.add_column(table, sa.Column("user_id", sa.Integer(), nullable=True))
            op.create_foreign_key(
                op.f(f"fk_{table}_user_id_users"), table, "users", ["user_id"], ["id"], ondelete="CASCADE"
            )
            op.create_index(op.f(f"ix_{table}_user_id"), table, ["user_id"])
    _fill_user_ids()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _require_foreign_keys_off()
        for table in reversed(ID_TABLES):
            _rebuild(table, autoincrement=False, drop_user_id=table in USER_KEYED)
        _check_foreign_keys()
        return
    for table in USER_KEYED:
        # The foreign key first: MariaDB keeps an index for it until it goes.
        op.drop_constraint(op.f(f"fk_{table}_user_id_users"), table, type_="foreignkey")
        op.drop_index(op.f(f"ix_{table}_user_id"), table_name=table)
        op.drop_column(table, "user_id")


def _rebuild(
    table: str, *, autoincrement: bool, add_user_id: bool = False, drop_user_id: bool = False
) -> None:
    """Copy `table` into a new one with or without AUTOINCREMENT (Alembic's batch mode), its triggers
    created again after."""
    triggers = op.get_bind().exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    )
    trigger_sql = [row[0] for row in triggers]
    with op.batch_alter_table(
        table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ) as batch:
        if add_user_id:
            batch.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(
                op.f(f"fk_{table}_user_id_users"), "users", ["user_id"], ["id"], ondelete="CASCADE"
            )
            batch.create_index(op.f(f"ix_{table}_user_id"), ["user_id"])
        if drop_user_id:
            batch.drop_index(op.f(f"ix_{table}_user_id"))
            batch.drop_constraint(op.f(f"fk_{table}_user_id_users"), type_="foreignkey")
            batch.drop_column("user_id")
    for sql in trigger_sql:
        op.execute(sql)


def _require_foreign_keys_off() -> None:
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("SQLite's foreign keys must be off while tables are rebuilt (migrations/env.py)")


def _check_foreign_keys() -> None:
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rows refer to rows that do not exist: {broken[:5]}")


def _fill_user_ids() -> None:
    """Give the keys already stored for a signed-in user (`user:<id>` scopes) and the pending mail for an
    account their user, where that user still exists."""
    bind = op.get_bind()
    users = sa.table("users", sa.column("id"))
    keys = sa.table("idempotency_keys", sa.column("id"), sa.column("scope"), sa.column("user_id"))
    for key_id, scope in bind.execute(sa.select(keys.c.id, keys.c.scope).where(keys.c.scope.like("user:%"))):
        owner = scope.removeprefix("user:")
        if owner.isdecimal() and bind.scalar(sa.select(users.c.id).where(users.c.id == int(owner))):
            bind.execute(sa.update(keys).where(keys.c.id == key_id).values(user_id=int(owner)))
    jobs = sa.table(
        "outbox", sa.column("id"), sa.column("payload"), sa.column("status"), sa.column("user_id")
    )
    for job_id, payload in bind.execute(
        sa.select(jobs.c.id, jobs.c.payload).where(jobs.c.status == "pending")
    ):
        owner = json.loads(payload).get("user_id")
        if isinstance(owner, int) and bind.scalar(sa.select(users.c.id).where(users.c.id == owner)):
            bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(user_id=owner))
