"""The container tests run against an image built by tests/container/run.sh (its name in
REPLYD_TEST_IMAGE), on a PostgreSQL database of their own that the image itself migrates."""

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import RUN_PREFIX, empty_database

IMAGE = os.environ.get("REPLYD_TEST_IMAGE", "")
FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "host", "--http-proxy=false"]
"""What podman needs on this kind of machine (see run.sh); the host's network reaches the
test's PostgreSQL, Redis and stub model on 127.0.0.1."""


def podman(*args: str) -> str:
    """Run podman (with runc, which this kind of machine needs); its output, or a failure with it."""
    done = subprocess.run(["podman", "--runtime", "runc", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr}{done.stdout}"
    return done.stdout.strip()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new, empty PostgreSQL database, brought up to date by the image's ``replyd migrate``,
    as a deployment's migration step does."""
    if not IMAGE:
        pytest.skip("needs a replyd image: tests/container/run.sh builds one and runs these tests")
    if not os.environ.get("REPLYD_TEST_POSTGRES_URL"):
        pytest.skip("needs PostgreSQL (REPLYD_TEST_POSTGRES_URL): the replicas share it")
    name = f"{RUN_PREFIX}_image".replace("-", "_")
    with empty_database(tmp_path_factory.mktemp("db"), name) as url:
        podman("run", "--rm", *FLAGS, "-e", f"REPLYD_DATABASE_URL={url}", IMAGE, "migrate")
        yield url
