"""Long conversations (issue 7): does turn 1,000 cost what turn 50 costs, does the turn that cuts
the history cost less with its summary written ahead, and does the embedded model reuse its state
across turns?

Four parts, all in this process, on loopback. replyd writes the coming cut's summary ahead, in
the background (its default); after each turn the benchmark waits until no summary is in flight,
as a customer's pause between messages would, and times only the reply's HTTP request. How each
cut got its summary (ahead or inline) is replyd's ``replyd_history_cuts_total``.

* ``stub``: a 1,000-turn conversation through replyd (``create_app`` in a uvicorn thread, a fresh
  SQLite file) against the stub model of ``tests/servers.py``, extended here with a provider-style
  prompt cache: it reports as ``cached_tokens`` the prefix (characters / 4) that a request shares
  with the previous request of the same ``prompt_cache_key``. Per turn: prompt tokens, cached
  tokens, billed tokens (a cut pays for its summary), whether it cut and how, latency.
* ``local``: the same kind of conversation on the embedded model (``local:smollm2``), fewer turns
  (a 2-core machine evaluates a few hundred tokens a second); rolling summaries are written by
  the stub (the issue's "configured cheaper" summary model), so only replies run on llama.cpp.
  Per turn: prompt tokens, tokens evaluated anew (a probe on llama.cpp, which follows the model
  when replyd reloads it to grow its context), the cached tokens replyd stored, time to first
  token and latency.
* ``summaries``: the embedded model writing its own summaries, on two replyd servers taking the
  same conversation turn by turn, one summarising inline (``summaries_ahead=False``), one ahead:
  the latency of the turns that cut, and how long the summary written ahead ran in the pause. A
  summary written ahead still occupies the process's one llama.cpp model while it runs.
* ``reuse``: the issue's state-reuse targets. A ~2,400-token chat history cold and warm
  (one new turn on top), raw llama-cpp-python against replyd's ``LocalProvider``, interleaved;
  then 8 conversations taking turns round robin on one ``LocalProvider``.

The machine is shared and noisy, so variants are compared as ratios measured in the same run.

Run from the repository root:  .venv/bin/python -m bench.long_context
(``--only stub`` for one part, repeatable; ``--no-write`` to print without writing docs/).
"""
