"""What the search index adds to storing a reply on SQLite, without the noise of a server: the
CPU time of a reply's two writes (the customer's message, then the AI's, a transaction each, as
the reply path commits them) in a database migrated to 0021 (no index) and to head (FTS5 and
its triggers), each already holding ``--history`` messages. Rounds alternate; prints each.

Run from the repository root:  .venv/bin/python -m bench.search_index [--replies 3000] [--rounds 3]
"""

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

from replyd.store.migrate import upgrade_database

TEXT = "Hi, I would like to move my appointment on Friday to the afternoon, if that is possible."
ANSWER = "Sure, which time suits you?"
INSERT = (
    "INSERT INTO messages (conversation_id, role, author, content, function_calls, prompt_tokens, completion_tokens,"
    " cached_tokens, cost_micros, reserved_micros, created_at) VALUES (?, ?, ?, ?, '[]', 0, 0, 0, 0, 0, '2026-12-03')"
)


def database(work: Path, revision: str | None, history: int) -> sqlite3.Connection:
    """A migrated database (foreign keys unchecked: the messages need no conversations here)."""
    path = work / f"{revision or 'head'}.db"
    upgrade_database(f"sqlite:///{path}", revision or "head")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("BEGIN")
    for n in range(history):
        connection.execute(INSERT, (f"c{n % 1000}", "user", "customer", f"{TEXT} {n}"))
    connection.execute("COMMIT")
    return connection


def reply_cpu_ms(connection: sqlite3.Connection, replies: int) -> float:
    started = time.process_time()
    for n in range(replies):
        for role, author, content in [("user", "customer", f"{TEXT} {n}"), ("assistant", "ai", ANSWER)]:
            connection.execute("BEGIN")
            connection.execute(INSERT, (f"c{n % 1000}", role, author, content))
            connection.execute("COMMIT")
    return (time.process_time() - started) / replies * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search_index", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=3000, help="replies stored per round and database")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=100_000, help="messages each database holds first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replyd-bench-search-") as work:
        without = database(Path(work), "0021", args.history)
        indexed = database(Path(work), None, args.history)
        print(f"SQLite {sqlite3.sqlite_version}, {args.history} messages first, {args.replies} replies a round")
        for _ in range(args.rounds):
            before, after = reply_cpu_ms(without, args.replies), reply_cpu_ms(indexed, args.replies)
            print(f"CPU per reply: {before:.3f} ms without the index, {after:.3f} ms with it, {after - before:+.3f} ms")


if __name__ == "__main__":
    main()
