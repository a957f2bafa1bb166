"""How much text one answer carries. Pages are bounded in rows, but a message may hold 32,000
characters and a conversation's variables a request body's worth, so a page of 100 of either
could still be megabytes. Reads of messages and of conversation lists also stop at a budget of
encoded text: with it no answer is larger than 1 MB by default (issue 19), and what a page
leaves out is on the next one, behind the cursor."""

from collections.abc import Callable, Iterable
from typing import TypeVar

import orjson

from replyd.services.views import ConversationListing, MessageView
from replyd.store.tables import Message

TEXT_BUDGET_BYTES = 256 * 1024
"""The most JSON-encoded text (message contents and function calls, or variables) one page
holds. Its own variables (at most a request body, 256 KiB) come on top for a conversation read
with its messages: still well under 1 MB."""

T = TypeVar("T")


def within_budget(items: Iterable[T], size: Callable[[T], int], budget: int = TEXT_BUDGET_BYTES) -> list[T]:
    """The leading items whose sizes add up to at most ``budget``; the first one always, so
    a page never comes back empty while there is something to show."""
    kept: list[T] = []
    used = 0
    for item in items:
        used += size(item)
        if kept and used > budget:
            break
        kept.append(item)
    return kept


def message_size(message: Message | MessageView) -> int:
    """What the message's text takes in a JSON answer, escapes included."""
    return len(orjson.dumps(message.content)) + len(orjson.dumps(message.function_calls))


def listing_size(listing: ConversationListing) -> int:
    """What the conversation's variables take in a JSON answer: the rest of a list item is small."""
    return len(orjson.dumps(listing.conversation.variables))
