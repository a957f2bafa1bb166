"""The openai provider against a real local chat-completions server (the stub), not a mocked SDK."""

import socket
import threading

import pytest

from replyd.errors import ProviderError, ProviderTimeout
from replyd.providers.base import ChatMessage, Options
from replyd.providers.openai_compat import OpenAICompatProvider
from tests.servers import Scripted, StubModel

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]


def provider(stub_model: StubModel, timeout_s: float = 5, base_url: str | None = None) -> OpenAICompatProvider:
    return OpenAICompatProvider(base_url or stub_model.base_url, "key", timeout_s)  # type: ignore[attr-defined]


async def test_sends_messages_and_options_and_reads_text_and_usage(stub_model: StubModel) -> None:
    stub_model.enqueue(Scripted(text="Hi!", usage=(17, 3)))
    completion = await provider(stub_model).complete("gpt-test", MESSAGES, Options(temperature=0.2, max_tokens=50))
    assert completion.text == "Hi!"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (17, 3)
    sent = stub_model.requests[0]
    assert sent["model"] == "gpt-test"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50


async def test_a_slow_server_is_a_timeout(stub_model: StubModel) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="late", gate=gate))
    try:
        with pytest.raises(ProviderTimeout):
            await provider(stub_model, timeout_s=0.2).complete("m", MESSAGES, Options())
    finally:
        gate.set()


async def test_an_unreachable_server_is_a_provider_error(stub_model: StubModel) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        await provider(stub_model, base_url=f"http://127.0.0.1:{port}/v1").complete("m", MESSAGES, Options())
    assert not isinstance(caught.value, ProviderTimeout)
    assert "reach" in caught.value.message
