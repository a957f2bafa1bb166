"""channel sending status: every message on its way out on a channel, and Twilio sending

Each AI or agent message written for a channel gets its status row at once (``pending``, with
the last refusal while it is retried), so the operator sees what became of it before the
platform gives it an id; the platform's id is filled in when it accepts the message. Twilio
channels now send too: those added before get the event endpoint that Telegram and WhatsApp
channels are given when they are added.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel_message_status") as batch:
        batch.alter_column("platform_message_id", existing_type=sa.String(100), nullable=True)
        batch.create_index("uq_channel_message_status_message", ["message_id"], unique=True)
    op.execute(
        "INSERT INTO event_endpoints (account_id, url, event_types, secret, channel_id, enabled, created_at) "
        "SELECT c.account_id, 'channel:' || c.id, '[\"channel.outgoing\"]', '', c.id, TRUE, c.created_at "
        "FROM channels c WHERE c.kind = 'twilio' "
        "AND NOT EXISTS (SELECT 1 FROM event_endpoints e WHERE e.channel_id = c.id)"
    )


def downgrade() -> None:
    op.execute("DELETE FROM event_endpoints WHERE channel_id IN (SELECT id FROM channels WHERE kind = 'twilio')")
    op.execute("DELETE FROM channel_message_status WHERE platform_message_id IS NULL")
    with op.batch_alter_table("channel_message_status") as batch:
        batch.drop_index("uq_channel_message_status_message")
        batch.alter_column("platform_message_id", existing_type=sa.String(100), nullable=False)
