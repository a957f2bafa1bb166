"""Event ids: the ``webhook-id`` receivers drop duplicates by, made so that the index on them
grows at its end."""

import re
import time

from replyd.events.types import new_event_id


def test_an_event_id_is_evt_and_32_hex_digits_and_never_made_twice() -> None:
    ids = [new_event_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"evt_[0-9a-f]{32}", event_id) for event_id in ids)
    assert len(set(ids)) == len(ids)


def test_ids_made_later_sort_after() -> None:
    made = []
    for _ in range(5):
        made.append(new_event_id())
        time.sleep(0.002)  # the next microsecond at least, whatever the clock's resolution
    assert made == sorted(made)
