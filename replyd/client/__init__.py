"""A Python client for replyd's HTTP API, sync and async, built on httpx.

    from replyd.client import ReplydClient

    with ReplydClient("http://127.0.0.1:8000", "rpd_...") as replyd:
        answer = replyd.generate_reply(1, "+49155551234", "Hi! Are you open on Saturday?")
        print(answer.reply)

It imports nothing of the server. See docs/client.md for the methods, the retry policy and
the exceptions.
"""

from replyd.client._async import AsyncReplydClient
from replyd.client._errors import (
    ERROR_CLASSES,
    AssistantInUseError,
    AssistantNotFoundError,
    ConversationNotFoundError,
    FieldError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidJSONError,
    InvalidResponseError,
    LLMError,
    LLMTimeoutError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ReplydAPIError,
    ReplydClientError,
    ReplydConnectionError,
    ReplydTimeoutError,
    RequestInProgressError,
    ServiceUnavailableError,
    UnauthenticatedError,
    ValidationFailedError,
)
from replyd.client._models import (
    Account,
    AgentMessage,
    Assistant,
    AssistantTotal,
    Conversation,
    ConversationPage,
    ConversationReply,
    ConversationState,
    ConversationSummary,
    DayTotal,
    FunctionCall,
    HistoryMessage,
    LedgerEntry,
    Reply,
    StartedConversation,
    TokenInfo,
    Usage,
    UsageTotals,
)
from replyd.client._retry import RetryPolicy
from replyd.client._sync import ReplydClient

__all__ = [
    "ERROR_CLASSES",
    "Account",
    "AgentMessage",
    "Assistant",
    "AssistantInUseError",
    "AssistantNotFoundError",
    "AssistantTotal",
    "AsyncReplydClient",
    "Conversation",
    "ConversationNotFoundError",
    "ConversationPage",
    "ConversationReply",
    "ConversationState",
    "ConversationSummary",
    "DayTotal",
    "FieldError",
    "ForbiddenError",
    "FunctionCall",
    "HistoryMessage",
    "IdempotencyKeyReusedError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidJSONError",
    "InvalidResponseError",
    "LLMError",
    "LLMTimeoutError",
    "LedgerEntry",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "Reply",
    "ReplydAPIError",
    "ReplydClient",
    "ReplydClientError",
    "ReplydConnectionError",
    "ReplydTimeoutError",
    "RequestInProgressError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "StartedConversation",
    "TokenInfo",
    "UnauthenticatedError",
    "Usage",
    "UsageTotals",
    "ValidationFailedError",
]
