"""usage totals: what each assistant's replies cost per UTC day, kept as they are charged

Usage summed every reply entry of the account's ledger on every call, cursor pages too (1.5 s
at a million entries on SQLite, issue 19). The charge now adds itself to its day's and
assistant's row in the same transaction; this adds the rows up from the ledger so far.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

UTC_DAY = {
    "sqlite": "date(created_at)",  # kept as 'YYYY-MM-DD HH:MM:SS...', in UTC
    "postgresql": "CAST(created_at AT TIME ZONE 'UTC' AS date)",
}
BACKFILL = """
INSERT INTO usage_totals (account_id, day, assistant_id, replies, spent_micros)
SELECT account_id, {day}, assistant_id, count(*), sum(-amount_micros)
FROM ledger_entries
WHERE kind = 'reply' AND assistant_id IS NOT NULL
GROUP BY account_id, {day}, assistant_id
"""


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("assistant_id", sa.BigInteger(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("spent_micros", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "day", "assistant_id"),
    )
    op.execute(BACKFILL.format(day=UTC_DAY[op.get_bind().dialect.name]))


def downgrade() -> None:
    op.drop_table("usage_totals")
