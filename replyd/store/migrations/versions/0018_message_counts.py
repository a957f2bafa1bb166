"""message counts: each conversation keeps how many messages it holds and what they cost

The conversation list showed both by counting and summing every message of every listed
conversation on each page (41 ms for a page holding a conversation of 20,000 messages). Now
the statement that stores a message adds it to its conversation's row; this backfills the
rows from the messages stored so far.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE conversations SET
    message_count = (SELECT count(*) FROM messages WHERE messages.conversation_id = conversations.id),
    total_cost_micros = (
        SELECT coalesce(sum(cost_micros), 0) FROM messages WHERE messages.conversation_id = conversations.id
    )
"""


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("message_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("total_cost_micros", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute(BACKFILL)


def downgrade() -> None:
    # Not in batch mode: SQLite (3.35 and later) drops a column in place, where a batch copy of
    # the table would lose the needs-human index's WHERE (see 0013).
    op.drop_column("conversations", "total_cost_micros")
    op.drop_column("conversations", "message_count")
