"""summary written ahead: the next rolling summary, written off the reply's critical path
and waiting for the conversation's next turn to apply it

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("next_summary", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_summary_through_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("next_summary_prompt_tokens", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_summary_completion_tokens", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("next_summary_completion_tokens")
        batch.drop_column("next_summary_prompt_tokens")
        batch.drop_column("next_summary_through_id")
        batch.drop_column("next_summary")
