from hypothesis import given
from hypothesis import strategies as st

from replyd.engine.context import (
    CUT_TARGET,
    HIGH_WATER,
    Turn,
    fits,
    layout,
    plan,
    stored_unit,
    summary_budget,
)
from replyd.providers.base import ESTIMATE, ChatMessage, prompt_tokens

texts = st.text(min_size=1, max_size=400)
calls = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["book", "lookup"]), "arguments": st.just({"id": 1}), "result": texts}
    ),
    max_size=3,
)


@st.composite
def histories(draw: st.DrawFn) -> list[Turn]:
    turns = []
    for n in range(draw(st.integers(0, 40))):
        if n % 2 == 0:
            turns.append(Turn(n, stored_unit(n, "user", draw(texts), [])))
        else:
            turns.append(Turn(n, stored_unit(n, "assistant", draw(texts), draw(calls))))
    return turns


def total(messages: list[ChatMessage]) -> int:
    return prompt_tokens(messages, ESTIMATE)


@given(histories(), st.integers(min_value=400, max_value=4000))
def test_what_fits_is_kept_whole_and_a_cut_goes_far_below_the_budget(history: list[Turn], budget: int) -> None:
    result = plan("Be kind.", None, history, "new message", budget, ESTIMATE)
    assert result.fold + result.keep == history
    if not result.fold:
        assert fits(layout("Be kind.", None, result.keep, "new message"), budget, ESTIMATE)
        return
    room = summary_budget(budget)
    kept = total(layout("Be kind.", "s" * 4 * (room - 10), result.keep, "new message"))
    assert kept <= budget * CUT_TARGET or not result.keep
    assert not result.keep or result.keep[0].unit[0].role == "user"


@given(histories(), st.integers(min_value=400, max_value=4000), st.text(max_size=200))
def test_between_cuts_the_prefix_only_grows(history: list[Turn], budget: int, summary: str) -> None:
    """Adding a turn either keeps every earlier message in place, or cuts."""
    before = plan("sys", summary or None, history[:-1], "m", budget, ESTIMATE)
    after = plan("sys", summary or None, history, "m", budget, ESTIMATE)
    if not after.fold:
        previous = layout("sys", summary or None, before.keep, "m")[:-1]
        assert layout("sys", summary or None, after.keep, "m")[: len(previous)] == previous


@given(histories(), st.floats(min_value=0.7, max_value=1.1))
def test_near_the_budget_the_plan_names_whole_exchanges_to_summarise_ahead(history: list[Turn], fill: float) -> None:
    """``fill``: the prompt's size as a share of the budget, around the high-water mark."""
    size = total(layout("Be kind.", None, history, "new message"))
    budget = int(size / fill)
    result = plan("Be kind.", None, history, "new message", budget, ESTIMATE)
    if result.fold or size <= budget * HIGH_WATER:
        assert result.fold_ahead == []
        return
    assert result.keep == history  # nothing is cut yet: the prefix stays
    assert result.fold_ahead == history[: len(result.fold_ahead)]
    rest = history[len(result.fold_ahead) :]
    assert not rest or rest[0].unit[0].role == "user"


def test_a_reply_with_function_calls_keeps_each_call_with_its_result() -> None:
    unit = stored_unit(7, "assistant", "Booked!", [{"name": "book", "arguments": {"day": "fri"}, "result": {"ok": 1}}])
    call_message, result_message, text_message = unit
    assert call_message.tool_calls[0].id == "call_7_0" == result_message.tool_call_id
    assert call_message.tool_calls[0].arguments == '{"day": "fri"}'
    assert result_message == ChatMessage("tool", '{"ok": 1}', tool_call_id="call_7_0")
    assert text_message == ChatMessage("assistant", "Booked!")


def test_the_summary_stands_right_after_the_system_prompt() -> None:
    turns = [Turn(1, (ChatMessage("user", "hi"),)), Turn(2, (ChatMessage("assistant", "hello"),))]
    messages = layout("sys", "They met before.", turns, "again")
    assert [m.role for m in messages] == ["system", "system", "user", "assistant", "user"]
    assert messages[1].content.endswith("They met before.")
