"""channel messages: inbound kept before it is acknowledged, outbound through the event outbox

Conversations remember the channel they last spoke on; events can be aimed at one channel
(``channel.outgoing``) and each channel sends through an event endpoint of its own. An inbound
message is kept once per channel and platform message id, so a platform's retry is dropped.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NEEDS_HUMAN = sa.text("needs_human")


def remake_needs_human_index() -> None:
    """SQLite's batch mode copies the table and its indexes, but not a partial index's WHERE:
    made again, the index stays the small one that the console's count reads (0011)."""
    op.drop_index("ix_conversations_needs_human", "conversations")
    op.create_index(
        "ix_conversations_needs_human",
        "conversations",
        ["account_id", "updated_at", "id"],
        postgresql_where=NEEDS_HUMAN,
        sqlite_where=NEEDS_HUMAN,
    )


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("channel_id", BIG_ID, nullable=True))
        batch.create_foreign_key("fk_conversations_channel", "channels", ["channel_id"], ["id"], ondelete="SET NULL")
    remake_needs_human_index()
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("channel_id", BIG_ID, nullable=True))
    with op.batch_alter_table("event_endpoints") as batch:
        batch.add_column(sa.Column("channel_id", BIG_ID, nullable=True))
        batch.create_foreign_key("fk_event_endpoints_channel", "channels", ["channel_id"], ["id"], ondelete="CASCADE")
    op.create_table(
        "channel_inbound",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("channel_id", BIG_ID, sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
        sa.Column("platform_message_id", sa.String(100), nullable=False),
        sa.Column("customer_identifier", sa.String(255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("channel_id", "platform_message_id", name="uq_channel_inbound_message"),
    )


def downgrade() -> None:
    op.drop_table("channel_inbound")
    with op.batch_alter_table("event_endpoints") as batch:
        batch.drop_constraint("fk_event_endpoints_channel", type_="foreignkey")
        batch.drop_column("channel_id")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("channel_id")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_constraint("fk_conversations_channel", type_="foreignkey")
        batch.drop_column("channel_id")
    remake_needs_human_index()
