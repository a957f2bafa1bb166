"""idempotency expiry: Idempotency-Key answers are found by age, to be deleted after their window

Keys are kept for REPLYD_IDEMPOTENCY_TTL_S (24 hours) and deleted after, a small batch at a
time; each holds a whole answer, so kept for ever they became the largest table (issue 19).

Revision ID: 0020
Revises: 0019
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", "idempotency_keys")
