"""Create or upgrade the database schema with Alembic (``migrations/`` beside this file)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from replyd.store.session import async_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Run every migration not yet applied, up to ``revision``. Blocking: it runs its own event
    loop, so call it from a thread when already inside one."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision(database_url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(database_url)).get_current_head() or ""


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
