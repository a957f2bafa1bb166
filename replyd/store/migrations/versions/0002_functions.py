"""functions: assistants' functions and handoff, accounts' webhook secrets

Revision ID: 0002
Revises: 0001
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assistants") as batch:
        batch.add_column(sa.Column("functions", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("handoff_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("handoff_message", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("max_function_rounds", sa.Integer(), nullable=False, server_default="5"))
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("webhook_secret", sa.String(64), nullable=False, server_default=""))
    accounts = sa.table("accounts", sa.column("id", sa.BigInteger), sa.column("webhook_secret", sa.String))
    connection = op.get_bind()
    for (account_id,) in connection.execute(sa.select(accounts.c.id)).all():
        connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id)
            .values(webhook_secret="whsec_" + secrets.token_urlsafe(32))
        )


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("webhook_secret")
    with op.batch_alter_table("assistants") as batch:
        batch.drop_column("max_function_rounds")
        batch.drop_column("handoff_message")
        batch.drop_column("handoff_enabled")
        batch.drop_column("functions")
