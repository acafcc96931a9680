"""Each account gets a security stamp, which a new password, a reset and a confirmed new email replace, and
each mailed token the stamp it was asked for under: a token, or a mail still waiting to be sent, stops
working once the account has changed under it.

Existing accounts get a random stamp; existing tokens get their account's stamp, so they keep working as
they did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 32 random hex digits, the length of the stamps Inkwell makes (secrets.token_hex(16)), in each database.
RANDOM_STAMP = {
    "sqlite": "lower(hex(randomblob(16)))",
    "postgresql": "md5(random()::text || clock_timestamp()::text || id::text)",
    "mysql": "md5(concat(rand(), now(6), id))",
    "mariadb": "md5(concat(rand(), now(6), id))",
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("users", sa.Column("security_stamp", sa.String(length=32), nullable=True))
    op.execute(f"UPDATE users SET security_stamp = {RANDOM_STAMP[dialect]}")
    op.add_column("account_tokens", sa.Column("stamp", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE account_tokens SET stamp = "
        "(SELECT security_stamp FROM users WHERE users.id = account_tokens.user_id)"
    )
    # SQLite rebuilds the table to change a column: with AUTOINCREMENT, as the model says (revision 0011).
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as users:
        users.alter_column("security_stamp", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("account_tokens") as tokens:
        tokens.alter_column("stamp", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("account_tokens") as tokens:
        tokens.drop_column("stamp")
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as users:
        users.drop_column("security_stamp")
