"""The openai provider against a real local chat-completions server (the stub), not a mocked SDK."""

import socket
import threading
from collections.abc import Callable

import pytest

from replyd.errors import ProviderError, ProviderTimeout
from replyd.providers.base import ChatMessage, Options
from replyd.providers.openai_compat import OpenAICompatProvider, environment_proxy
from tests.servers import Scripted, StubModel

MESSAGES = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hello")]


MakeProvider = Callable[..., OpenAICompatProvider]


async def test_sends_messages_and_options_and_reads_text_and_usage(
    stub_model: StubModel, openai_provider: MakeProvider
) -> None:
    stub_model.enqueue(Scripted(text="Hi!", usage=(17, 3)))
    completion = await openai_provider().complete("gpt-test", MESSAGES, Options(temperature=0.2, max_tokens=50))
    assert completion.text == "Hi!"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (17, 3)
    sent = stub_model.requests[0]
    assert sent["model"] == "gpt-test"
    assert sent["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50


async def test_a_slow_server_is_a_timeout(stub_model: StubModel, openai_provider: MakeProvider) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="late", gate=gate))
    try:
        with pytest.raises(ProviderTimeout):
            await openai_provider(timeout_s=0.2).complete("m", MESSAGES, Options())
    finally:
        gate.set()


async def test_an_unreachable_server_is_a_provider_error(stub_model: StubModel, openai_provider: MakeProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProviderError) as caught:
        await openai_provider(base_url=f"http://127.0.0.1:{port}/v1").complete("m", MESSAGES, Options())
    assert not isinstance(caught.value, ProviderTimeout)
    assert "reach" in caught.value.message


def test_the_proxy_comes_from_the_environment_unless_no_proxy_exempts_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    url = "https://api.openai.com/v1/chat/completions"
    assert environment_proxy(url) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert environment_proxy(url) == "http://proxy.internal:3128"
    assert environment_proxy("http://127.0.0.1:8080/v1/chat/completions") is None  # no HTTP_PROXY
    monkeypatch.setenv("NO_PROXY", "api.openai.com")
    assert environment_proxy(url) is None
