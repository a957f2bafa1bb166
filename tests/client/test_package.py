"""The client's public surface, like httpx's test_exported_members: names come from
``replyd.client``, modules are private, and nothing of the server is imported."""

import subprocess
import sys

import replyd.client
from replyd.client import AsyncReplydClient, ReplydClient


def test_all_exports_every_public_name_and_nothing_else() -> None:
    public = {name for name in dir(replyd.client) if not name.startswith("_")}
    assert set(replyd.client.__all__) == public
    classes = [getattr(replyd.client, name) for name in replyd.client.__all__ if name != "ERROR_CLASSES"]
    for cls in classes:
        assert cls.__module__.startswith("replyd.client._"), cls


def test_importing_the_client_imports_nothing_of_the_server() -> None:
    code = "import sys, replyd.client; print(' '.join(sorted(m for m in sys.modules if m.startswith('replyd'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in loaded if m != "replyd" and not m.startswith("replyd.client")] == []


def test_sync_and_async_clients_have_the_same_methods() -> None:
    def methods(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")} - {"close", "aclose"}

    assert methods(ReplydClient) == methods(AsyncReplydClient)
