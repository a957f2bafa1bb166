"""customer messages stored before the model answers: each one's answer status and, when
the model failed, the error, and the worst-case cost it holds of its account's balance while
it waits (reserved_micros, summed on the account); and a version of each account's settings, which the reply path's
caches of tokens and assistants compare with

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("reply_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("reply_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("reserved_micros", sa.BigInteger(), nullable=False, server_default="0"))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("settings_version", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reserved_micros", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("reserved_micros")
        batch.drop_column("settings_version")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("reserved_micros")
        batch.drop_column("reply_error")
        batch.drop_column("reply_status")
