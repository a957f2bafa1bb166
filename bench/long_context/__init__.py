"""Long conversations (issue 7): does turn 1,000 cost what turn 50 costs, and does the embedded
model reuse its state across turns?

Three parts, all in this process, on loopback:

* ``stub``: a 1,000-turn conversation through replyd (``create_app`` in a uvicorn thread, a fresh
  SQLite file) against the stub model of ``tests/servers.py``, extended here with a provider-style
  prompt cache: it reports as ``cached_tokens`` the prefix (characters / 4) that a request shares
  with the previous request of the same ``prompt_cache_key``. Per turn: prompt tokens, cached
  tokens, billed tokens and latency.
* ``local``: the same kind of conversation on the embedded model (``local:smollm2``), fewer turns
  (a 2-core machine evaluates a few hundred tokens a second); rolling summaries are written by
  the stub (the issue's "configured cheaper" summary model), so only replies run on llama.cpp.
  Per turn: prompt tokens, tokens evaluated anew, time to first token and latency.
* ``reuse``: the issue's state-reuse targets. A ~2,400-token chat history cold and warm
  (one new turn on top), raw llama-cpp-python against replyd's ``LocalProvider``, interleaved;
  then 8 conversations taking turns round robin on one ``LocalProvider``.

The machine is shared and noisy, so variants are compared as ratios measured in the same run.

Run from the repository root:  .venv/bin/python -m bench.long_context
(``--only stub`` for one part; ``--no-write`` to print without writing docs/).
"""
