from hypothesis import given
from hypothesis import strategies as st

from replyd.engine.context import build_model_input, message_tokens, most_messages_in_budget
from replyd.providers.base import ChatMessage, estimate_tokens

history_strategy = st.lists(
    st.builds(ChatMessage, st.sampled_from(["user", "assistant"]), st.text(min_size=1, max_size=400)), max_size=60
)


def total(messages: list[ChatMessage]) -> int:
    return sum(message_tokens(m, estimate_tokens) for m in messages)


@given(history_strategy, st.integers(min_value=64, max_value=4000))
def test_context_never_exceeds_its_budget(history: list[ChatMessage], budget: int) -> None:
    sent = build_model_input("Be kind.", history, "new message", budget, estimate_tokens)
    assert total(sent) <= budget
    assert sent[0] == ChatMessage("system", "Be kind.")
    assert sent[-1] == ChatMessage("user", "new message")


@given(history_strategy, st.integers(min_value=64, max_value=4000))
def test_kept_history_is_the_newest_unbroken_run(history: list[ChatMessage], budget: int) -> None:
    kept = build_model_input("", history, "m", budget, estimate_tokens)[:-1]
    assert kept == (history[len(history) - len(kept) :] if kept else [])
    if len(kept) < len(history):  # the next older message would not have fitted
        dropped = history[len(history) - len(kept) - 1]
        assert total(kept) + message_tokens(dropped, estimate_tokens) + total([ChatMessage("user", "m")]) > budget


def test_system_prompt_and_new_message_go_in_even_over_budget() -> None:
    sent = build_model_input("s" * 1000, [ChatMessage("user", "old")], "n" * 1000, 64, estimate_tokens)
    assert [m.role for m in sent] == ["system", "user"]


def test_the_history_read_from_the_database_is_enough_to_fill_the_budget() -> None:
    budget = 300
    tiny = [ChatMessage("user", "a")] * 1000
    kept = build_model_input("", tiny, "a", budget, estimate_tokens)[:-1]
    assert len(kept) <= most_messages_in_budget(budget)
