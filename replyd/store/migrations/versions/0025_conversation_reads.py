"""conversation reads: the newest message each console sign-in was shown of a conversation,
for the console's unread counts

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversation_reads",
        sa.Column(
            "conversation_id",
            sa.String(36),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("token_id", BIG_ID, sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("last_read_message_id", BIG_ID, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("conversation_reads")
