"""channels: an assistant on WhatsApp, Twilio SMS or Telegram

Each channel keeps its platform credentials sealed (encrypted with the server's channel key)
and the secret replyd made for the platform's calls to its inbound URL.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("account_id", BIG_ID, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("assistant_id", BIG_ID, sa.ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("credentials", sa.Text(), nullable=False),
        sa.Column("inbound_secret", sa.String(100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_channels_account_id", "channels", ["account_id"])
    op.create_index("ix_channels_assistant_id", "channels", ["assistant_id"])


def downgrade() -> None:
    op.drop_index("ix_channels_assistant_id", "channels")
    op.drop_index("ix_channels_account_id", "channels")
    op.drop_table("channels")
