"""Keep the trace context of the request that wrote each job, so that the job's span can link to it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    # SQLite drops a column by copying the table: batch mode does that, and plain ALTER elsewhere.
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("traceparent")
