"""What the search indexes add to storing a reply on SQLite, without the noise of a server: the
CPU time of a reply's two writes (the customer's message, then the AI's, a transaction each, as
the reply path commits them) in a database migrated to 0021 (no index) and to head (FTS5 and
its triggers), each already holding ``--history`` messages; then, of the writes the identifiers'
and variables' trigram index (0026) follows, a new customer's conversation and a change of its
variables (a transaction each), in a database at 0024 and one at head, each already holding
``--history`` conversations. Rounds alternate; prints each.

Run from the repository root:  .venv/bin/python -m bench.search_index [--replies 3000] [--rounds 3]
"""

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from replyd.store.migrate import upgrade_database

DEC_3 = 1_796_256_000_000_000
"""2026-12-03 as SQLite keeps times since migration 0027 (microseconds since 1970)."""
TEXT = "Hi, I would like to move my appointment on Friday to the afternoon, if that is possible."
ANSWER = "Sure, which time suits you?"
INSERT = (
    "INSERT INTO messages (conversation_id, role, author, content, function_calls, prompt_tokens, completion_tokens,"
    f" cached_tokens, cost_micros, reserved_micros, created_at) VALUES (?, ?, ?, ?, '[]', 0, 0, 0, 0, 0, {DEC_3})"
)

WITH_INDEX = "0028"
"""The messages' full-text index as it is at head, in the last revision whose messages name
their conversation by id as 0021's do (0029 numbers them), so one ``INSERT`` serves both."""

INSERT_CONVERSATION = (
    "INSERT INTO conversations (id, account_id, assistant_id, customer_identifier, type, variables, ai_disabled,"
    f" created_at, updated_at) VALUES (?, 1, 1, ?, 'api', ?, 0, {DEC_3}, {DEC_3})"
)
CHANGE_VARIABLES = f"UPDATE conversations SET variables = ?, updated_at = {DEC_3 + 86_400_000_000} WHERE id = ?"


def database(
    work: Path, revision: str | None, history: int, fill: str, row: Callable[[int], tuple[str, ...]]
) -> sqlite3.Connection:
    """A migrated database holding ``history`` rows written by ``fill`` (foreign keys unchecked:
    the rows need no account, assistant or conversation here)."""
    path = work / f"{revision or 'head'}-{row.__name__}.db"
    upgrade_database(f"sqlite:///{path}", revision or "head")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("BEGIN")
    connection.executemany(fill, (row(n) for n in range(history)))
    connection.execute("COMMIT")
    return connection


def a_message(n: int) -> tuple[str, ...]:
    return (f"c{n % 1000}", "user", "customer", f"{TEXT} {n}")


def a_conversation(n: int) -> tuple[str, ...]:
    return (f"conversation-{n}", f"+49{n:09d}", json.dumps({"order_number": f"A-{n}", "plan": "gold"}))


def reply_cpu_ms(connection: sqlite3.Connection, replies: int) -> float:
    started = time.process_time()
    for n in range(replies):
        for role, author, content in [("user", "customer", f"{TEXT} {n}"), ("assistant", "ai", ANSWER)]:
            connection.execute("BEGIN")
            connection.execute(INSERT, (f"c{n % 1000}", role, author, content))
            connection.execute("COMMIT")
    return (time.process_time() - started) / replies * 1000


def conversation_cpu_ms(connection: sqlite3.Connection, first: int, count: int) -> float:
    """A new conversation, then its variables changed: CPU per pair."""
    started = time.process_time()
    for n in range(first, first + count):
        connection.execute("BEGIN")
        connection.execute(INSERT_CONVERSATION, a_conversation(n))
        connection.execute("COMMIT")
        connection.execute("BEGIN")
        connection.execute(CHANGE_VARIABLES, (json.dumps({"order_number": f"B-{n}"}), f"conversation-{n}"))
        connection.execute("COMMIT")
    return (time.process_time() - started) / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.search_index", description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=3000, help="replies stored per round and database")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=100_000, help="messages each database holds first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="replyd-bench-search-") as work:
        without = database(Path(work), "0021", args.history, INSERT, a_message)
        indexed = database(Path(work), WITH_INDEX, args.history, INSERT, a_message)
        print(f"SQLite {sqlite3.sqlite_version}, {args.history} messages first, {args.replies} replies a round")
        for _ in range(args.rounds):
            before, after = reply_cpu_ms(without, args.replies), reply_cpu_ms(indexed, args.replies)
            print(f"CPU per reply: {before:.3f} ms without the index, {after:.3f} ms with it, {after - before:+.3f} ms")
        without = database(Path(work), "0024", args.history, INSERT_CONVERSATION, a_conversation)
        indexed = database(Path(work), None, args.history, INSERT_CONVERSATION, a_conversation)
        print(f"{args.history} conversations first, {args.replies} new conversations a round, each then changed")
        for round in range(args.rounds):
            first = args.history + round * args.replies
            before = conversation_cpu_ms(without, first, args.replies)
            after = conversation_cpu_ms(indexed, first, args.replies)
            print(
                f"CPU per new conversation and change of its variables: {before:.3f} ms without trigrams,"
                f" {after:.3f} ms with them, {after - before:+.3f} ms"
            )


if __name__ == "__main__":
    main()
