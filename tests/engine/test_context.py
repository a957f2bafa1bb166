from hypothesis import given
from hypothesis import strategies as st

from replyd.engine.context import (
    Unit,
    build_model_input,
    message_tokens,
    most_messages_in_budget,
    stored_unit,
    unit_tokens,
)
from replyd.providers.base import ChatMessage, estimate_tokens

texts = st.text(min_size=1, max_size=400)
calls = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["book", "lookup"]), "arguments": st.just({"id": 1}), "result": texts}
    ),
    max_size=3,
)
units = st.one_of(
    st.builds(lambda text: stored_unit(1, "user", text, []), texts),
    st.builds(lambda text, fc: stored_unit(2, "assistant", text, fc), texts, calls),
)
histories = st.lists(units, max_size=60)


def total(messages: list[ChatMessage]) -> int:
    return sum(message_tokens(m, estimate_tokens) for m in messages)


def flatten(history: list[Unit]) -> list[ChatMessage]:
    return [message for unit in history for message in unit]


@given(histories, st.integers(min_value=64, max_value=4000))
def test_context_never_exceeds_its_budget(history: list[Unit], budget: int) -> None:
    sent = build_model_input("Be kind.", history, "new message", budget, estimate_tokens)
    assert total(sent) <= budget
    assert sent[0] == ChatMessage("system", "Be kind.")
    assert sent[-1] == ChatMessage("user", "new message")


@given(histories, st.integers(min_value=64, max_value=4000))
def test_kept_history_is_the_newest_whole_units(history: list[Unit], budget: int) -> None:
    kept = build_model_input("", history, "m", budget, estimate_tokens)[:-1]
    for start in range(len(history) + 1):  # the kept messages are exactly some newest whole units
        if flatten(history[start:]) == kept:
            break
    else:
        raise AssertionError("kept history is not a run of whole newest units")
    if start > 0:  # the next older unit would not have fitted
        newest = history[start - 1]
        assert total(kept) + unit_tokens(newest, estimate_tokens) + total([ChatMessage("user", "m")]) > budget


def test_a_reply_with_function_calls_keeps_each_call_with_its_result() -> None:
    unit = stored_unit(7, "assistant", "Booked!", [{"name": "book", "arguments": {"day": "fri"}, "result": {"ok": 1}}])
    call_message, result_message, text_message = unit
    assert call_message.tool_calls[0].id == "call_7_0" == result_message.tool_call_id
    assert call_message.tool_calls[0].arguments == '{"day": "fri"}'
    assert result_message == ChatMessage("tool", '{"ok": 1}', tool_call_id="call_7_0")
    assert text_message == ChatMessage("assistant", "Booked!")


def test_system_prompt_and_new_message_go_in_even_over_budget() -> None:
    sent = build_model_input("s" * 1000, [(ChatMessage("user", "old"),)], "n" * 1000, 64, estimate_tokens)
    assert [m.role for m in sent] == ["system", "user"]


def test_the_history_read_from_the_database_is_enough_to_fill_the_budget() -> None:
    budget = 300
    tiny = [(ChatMessage("user", "a"),)] * 1000
    kept = build_model_input("", tiny, "a", budget, estimate_tokens)[:-1]
    assert len(kept) <= most_messages_in_budget(budget)
