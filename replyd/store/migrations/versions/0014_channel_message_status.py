"""channel message status: what became of a message sent on a channel

WhatsApp reports each sent message's status (sent, delivered, read, failed) under the id its
API gave the message; replyd keeps the latest per channel and platform message id.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channel_message_status",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("channel_id", BIG_ID, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform_message_id", sa.String(100), nullable=False),
        sa.Column("message_id", BIG_ID, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("channel_id", "platform_message_id", name="uq_channel_message_status"),
    )


def downgrade() -> None:
    op.drop_table("channel_message_status")
