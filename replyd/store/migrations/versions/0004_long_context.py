"""long conversations: rolling summary, cached prompt tokens, summary model

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch.add_column(sa.Column("summary_through_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("cached_tokens", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("assistants") as batch:
        batch.add_column(sa.Column("summary_model", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assistants") as batch:
        batch.drop_column("summary_model")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("cached_tokens")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("summary_through_id")
        batch.drop_column("summary")
