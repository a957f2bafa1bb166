"""Channel credentials are stored sealed: encrypted and authenticated (Fernet: AES-128-CBC and
HMAC-SHA256) with the key of ``REPLYD_CHANNEL_KEY``, so a copy of the database alone gives no
platform's token away. Without a key, no channel can be added, and the error says how to make one."""

import json

from cryptography.fernet import Fernet, InvalidToken

from replyd.errors import ChannelKeyMissing, ReplydError


def new_key() -> str:
    return Fernet.generate_key().decode()


class Sealer:
    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(key.encode()) if key else None

    def seal(self, credentials: dict[str, str]) -> str:
        return self._require().encrypt(json.dumps(credentials).encode()).decode()

    def open(self, sealed: str) -> dict[str, str]:
        try:
            opened: dict[str, str] = json.loads(self._require().decrypt(sealed.encode()))
        except InvalidToken:
            raise ReplydError(
                "A channel's credentials do not open with this server's REPLYD_CHANNEL_KEY: it is not the key "
                "they were sealed with. Set the key the channels were added with."
            ) from None
        return opened

    def _require(self) -> Fernet:
        if self._fernet is None:
            raise ChannelKeyMissing()
        return self._fernet
