"""``/widget.js``: the chat widget's script, read once per process. Pages load it on every
visit, so it is sent gzipped when the browser takes that, cached for an hour, and revalidated by
its ETag (the hash of its content): a new release reaches every page within the hour."""

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from replyd import __version__

SOURCE = Path(__file__).parent / "static" / "widget.js"
MAX_AGE_S = 3600


@dataclass(frozen=True)
class Script:
    body: bytes
    gzipped: bytes
    etag: str


@cache
def widget_script() -> Script:
    body = f"/*! replyd widget {__version__} */\n".encode() + SOURCE.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Script(body, gzip.compress(body, compresslevel=9, mtime=0), etag)
