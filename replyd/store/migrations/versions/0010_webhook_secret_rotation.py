"""webhook secret rotation, and secrets in the form Standard Webhooks read

Adds the previous secret and the time of the last rotation, so calls can be signed with both
for a day after a rotation.

Secrets used to be ``whsec_`` + url-safe base64 (``-`` and ``_``), which the Standard Webhooks
libraries do not decode: they read standard base64 (``+`` and ``/``) and skip other characters,
so such a secret would yield a different key, or none. Each secret not already in standard
base64 is re-encoded: the same key bytes, spelled with ``+`` and ``/`` (and padded). Nothing
changes for a secret without ``-`` or ``_`` after its prefix; for the others, a receiver's copy
works again once its ``-`` become ``+`` and the ``_`` after ``whsec_`` become ``/`` (or the
operator rotates the secret). A secret
that decodes to nothing, as no replyd ever made one, is replaced by a new one.

Downgrading drops the two columns and keeps the secrets as they are: the older scheme hashed
the secret's text, which works with either spelling.

Revision ID: 0010
Revises: 0009
"""

import base64
import binascii
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PREFIX = "whsec_"


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("previous_webhook_secret", sa.String(64), nullable=True))
        batch.add_column(sa.Column("webhook_secret_rotated_at", sa.DateTime(timezone=True), nullable=True))
    accounts = sa.table("accounts", sa.column("id", sa.BigInteger), sa.column("webhook_secret", sa.String))
    connection = op.get_bind()
    for account_id, secret in connection.execute(sa.select(accounts.c.id, accounts.c.webhook_secret)).all():
        standard = standard_secret(secret)
        if standard != secret:
            connection.execute(accounts.update().where(accounts.c.id == account_id).values(webhook_secret=standard))


def standard_secret(secret: str) -> str:
    """``secret`` in standard base64, with the same key bytes."""
    text = secret.removeprefix(PREFIX)
    if _decoded(text, b"+/"):
        return secret
    key = _decoded(text, b"-_") or secrets.token_bytes(32)
    return PREFIX + base64.b64encode(key).decode()


def _decoded(text: str, altchars: bytes) -> bytes:
    """The bytes ``text`` spells in base64 with ``altchars`` as its last two digits; none if it
    holds anything else."""
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars, validate=True)
    except binascii.Error:
        return b""


def downgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("webhook_secret_rotated_at")
        batch.drop_column("previous_webhook_secret")
