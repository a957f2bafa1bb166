"""an index of the customer messages still pending, for the sweep that gives back the holds of
replies whose process died (it reads the index every half minute; it is empty but for the
replies in progress)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PENDING = sa.text("reply_status = 'pending'")


def upgrade() -> None:
    op.create_index("ix_messages_pending", "messages", ["created_at"], postgresql_where=PENDING, sqlite_where=PENDING)


def downgrade() -> None:
    op.drop_index("ix_messages_pending", "messages")
