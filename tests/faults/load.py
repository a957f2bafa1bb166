"""Many customers talking to replyd at once, every message with an Idempotency-Key of its own,
while a fault strikes; then each customer sends again, with the same keys, what went
unanswered, and the books are checked: what every client was told, what is stored and what is
charged agree, and no message is lost."""

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.conversations import all_messages
from replyd.store.tables import Conversation
from tests.processes import ROUTE

RETRY_PAUSE_S = 0.5
"""A client's pause before it sends a refused message again."""
ATTEMPTS = 40
"""How often a client sends one message before it gives up (some 20 s of refusals)."""

Exchange = tuple[str, str | None]
"""A stored message as (text, reply status)."""


@dataclass(frozen=True)
class Told:
    """What the client of one request was told: an HTTP answer, or none (``status`` None: the
    connection broke, or could not be made)."""

    customer: str
    index: int
    """Which of the customer's messages it sent."""
    status: int | None
    body: Any


@dataclass
class Figures:
    """What one scenario did, for the summary the suite prints and docs/reliability.md."""

    scenario: str
    customers: int
    messages: int
    faults: int = 0
    requests: int = 0
    answered: int = 0
    """Requests told 200 (a retry's replay of a stored answer included)."""
    refused: int = 0
    """Requests told an error (503, 409, ...)."""
    cut_off: int = 0
    """Requests that got no answer: the connection broke or was refused."""
    retried: int = 0
    """Messages sent more than once, with their key."""
    unsure: int = 0
    """Messages told an error although stored: the database went away during their commit."""
    lost: int = 0
    """Messages not answered in the end."""


@dataclass
class Load:
    client: httpx.AsyncClient
    assistant_id: int
    texts: dict[str, list[str]]
    """Each customer's messages, sent in order."""
    fault_after: int
    """How many answers to wait for before ``reached_fault_point`` returns."""
    told: list[Told] = field(default_factory=list)
    unsure: list[Told] = field(default_factory=list)
    answered: dict[str, int] = field(default_factory=dict)
    """How many of each customer's messages were answered, in order."""
    _fault_point: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def of(cls, client: httpx.AsyncClient, assistant_id: int, name: str, customers: int, messages: int) -> "Load":
        texts = {f"{name}-{c:02d}": [f"{name} {c}.{m}: hello?" for m in range(messages)] for c in range(customers)}
        return cls(client, assistant_id, texts, fault_after=customers * messages // 3)

    async def reached_fault_point(self) -> None:
        """Until a third of all messages were answered: the load is in full swing."""
        await self._fault_point.wait()

    async def until_first_failure(self) -> None:
        """Every customer sends its messages in order, until one goes unanswered (as a client
        that keeps its conversation in order stops, to try again later)."""
        try:
            await asyncio.gather(*(self._talk(customer, attempts=1) for customer in self.texts))
        finally:
            self._fault_point.set()  # reached or not: whoever waits for it must not wait forever

    async def to_the_end(self) -> None:
        """Every customer sends what is left, the first unanswered message again with its key,
        trying each message until it is answered."""
        await asyncio.gather(*(self._talk(customer, attempts=ATTEMPTS) for customer in self.texts))

    async def _talk(self, customer: str, attempts: int) -> None:
        texts = self.texts[customer]
        while (index := self.answered.get(customer, 0)) < len(texts):
            for attempt in range(attempts):
                if await self._send(customer, index):
                    break
                if attempt + 1 < attempts:
                    await asyncio.sleep(RETRY_PAUSE_S)
            else:
                return

    async def _send(self, customer: str, index: int) -> bool:
        message = self.texts[customer][index]
        body = {"assistant_id": self.assistant_id, "customer_identifier": customer, "message": message}
        try:
            response = await self.client.post(ROUTE, json=body, headers={"Idempotency-Key": f"{customer}-{index}"})
        except httpx.TransportError:
            self.told.append(Told(customer, index, None, None))
            return False
        self.told.append(Told(customer, index, response.status_code, _body(response)))
        if response.status_code != 200:
            return False
        self.answered[customer] = index + 1
        if sum(self.answered.values()) >= self.fault_after:
            self._fault_point.set()
        return True

    def figures(self, scenario: str, faults: int) -> Figures:
        sent = Counter((told.customer, told.index) for told in self.told)
        statuses = [told.status for told in self.told]
        return Figures(
            scenario,
            customers=len(self.texts),
            messages=sum(len(texts) for texts in self.texts.values()),
            faults=faults,
            requests=len(self.told),
            answered=statuses.count(200),
            refused=sum(status not in (200, None) for status in statuses),
            cut_off=statuses.count(None),
            retried=sum(count > 1 for count in sent.values()),
            unsure=len(self.unsure),
            lost=sum(len(texts) - self.answered.get(customer, 0) for customer, texts in self.texts.items()),
        )

    async def stored(self, db: async_sessionmaker[AsyncSession]) -> dict[str, list[Exchange]]:
        """Each customer's conversation as stored: (text, reply status) of every message."""
        found: dict[str, list[Exchange]] = {}
        async with db() as session:
            for customer in self.texts:
                conversation_id = await session.scalar(
                    select(Conversation.id).where(
                        Conversation.assistant_id == self.assistant_id, Conversation.customer_identifier == customer
                    )
                )
                messages = await all_messages(session, conversation_id) if conversation_id else []
                found[customer] = [(m.content, m.reply_status) for m in messages]
        return found

    def assert_told_matches_stored(self, stored: dict[str, list[Exchange]]) -> None:
        """Check, right after the fault, that what each client was told is what is stored: the
        messages told 200 answered, each once with the reply it was told, nothing after them
        but the message that went unanswered, and that one not answered if its client was
        told an error. Keeps in ``unsure`` the requests told an error whose message was
        answered even so, which only the database going away during their commit explains."""
        for customer, texts in self.texts.items():
            done = self.answered.get(customer, 0)
            answered = [exchange for n in range(done) for exchange in _exchange(texts[n])]
            assert stored[customer][: 2 * done] == answered, (customer, stored[customer])
            rest = stored[customer][2 * done :]
            if done == len(texts):
                assert rest == [], (customer, rest)
                continue
            assert rest in ([], [(texts[done], "pending")], [(texts[done], "failed")], _exchange(texts[done])), (
                customer,
                rest,
            )
            last = [told for told in self.told if told.customer == customer][-1]
            if rest == _exchange(texts[done]) and last.status is not None:
                self.unsure.append(last)
        for told in self.told:
            if told.status == 200:
                assert told.body["reply"] == f"echo: {self.texts[told.customer][told.index]}", told

    def assert_all_answered_once(self, stored: dict[str, list[Exchange]]) -> None:
        """In the end: every message answered, each stored once with its one reply, and every
        client told 200 for a key told the same answer."""
        for customer, texts in self.texts.items():
            assert stored[customer] == [exchange for text in texts for exchange in _exchange(text)], customer
        answers: dict[tuple[str, int], Any] = {}
        for told in self.told:
            if told.status == 200:
                assert answers.setdefault((told.customer, told.index), told.body) == told.body, told


def _exchange(text: str) -> list[Exchange]:
    """A message answered, and the stub model's reply (it echoes)."""
    return [(text, "answered"), (f"echo: {text}", None)]


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
