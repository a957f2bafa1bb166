"""Events replyd sends to each account's endpoints: what they are, how they are written into
the outbox (``store/events.py``) with the change they report, and how they are delivered."""
