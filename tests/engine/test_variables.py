from hypothesis import given
from hypothesis import strategies as st

from replyd.engine.variables import merge_variables, render_prompt

scalars = st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
names = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)


def test_merge_adds_overwrites_and_removes() -> None:
    assert merge_variables({"a": 1, "b": "x", "c": True}, {"b": "y", "c": None, "d": 2.5}) == {
        "a": 1,
        "b": "y",
        "d": 2.5,
    }


def test_merge_with_nothing_keeps_the_variables() -> None:
    assert merge_variables({"a": 1}, None) == {"a": 1}


def test_render_writes_numbers_and_booleans_as_json() -> None:
    assert render_prompt("{{a}} {{b}} {{c}} {{d}}", {"a": 3, "b": 2.5, "c": False, "d": "text"}) == "3 2.5 false text"


def test_unknown_names_render_empty_and_other_braces_stay() -> None:
    assert render_prompt("[{{missing}}] {single} {{ spaced }}", {"spaced": "ok"}) == "[] {single} ok"


@given(st.dictionaries(names, scalars, max_size=5), st.text())
def test_values_are_never_evaluated_as_templates(variables: dict[str, object], value: str) -> None:
    """Whatever a value holds, placeholders inside it come out untouched."""
    rendered = render_prompt("<{{v}}>", {**variables, "v": "{{" + value + "}}"})  # type: ignore[dict-item]
    assert rendered == "<{{" + value + "}}>"


@given(st.dictionaries(names, scalars, max_size=5), st.dictionaries(names, st.one_of(scalars, st.none()), max_size=5))
def test_merge_keeps_exactly_the_non_null_keys(current: dict[str, object], update: dict[str, object]) -> None:
    merged = merge_variables(current, update)  # type: ignore[arg-type]
    removed = {k for k, v in update.items() if v is None}
    assert set(merged) == (set(current) | set(update)) - removed
    assert all(merged[k] == update[k] for k in update if k not in removed)
