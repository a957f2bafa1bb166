"""replyd's overhead per reply, against the stub model alone and against LiteLLM's proxy in the
same run: replies/s, p50/p99 latency and the server's CPU per reply, in closed and open loops.

Four processes on loopback, so that no two share a GIL: this one (the load generator), the stub
OpenAI-compatible model of ``tests/servers.py``, LiteLLM's proxy in front of the stub (one worker,
a master key, no database; from the benchmarks' own virtualenv, ``bench/.venv``, made on first
use) and ``replyd serve`` on a fresh, migrated SQLite file (or PostgreSQL and Redis). Each load
is sent to the stub alone, to LiteLLM and to replyd in turn, so the table shows how much of a
reply's latency each server adds. The stub and LiteLLM get one chat-completions call per
message, what replyd sends the model for a fresh conversation; replyd gets
``POST /api/ai/generate-reply`` and keeps every customer's conversation.

* Closed loop (``--only 64``): every customer sends its next message when its last is answered.
* Open loop (``--rate 100``): messages arrive at a fixed average rate (Poisson), round robin over
  64 customers, without waiting for answers; latency counts from when a message was due.

Run from the repository root:  .venv/bin/python -m bench.overhead
(``--only 64 --rate 100`` for issue 12's two loads; ``--profile stacks.txt`` to sample replyd with
py-spy meanwhile; ``--no-litellm`` to leave the peer out).
"""
