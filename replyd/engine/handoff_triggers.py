"""An assistant's handoff triggers: regular expressions, matched case-insensitively anywhere in
a customer's message ("human", "agent", "Mitarbeiter", ``\\bspeak to (a|an) (human|person)\\b``).
A message that matches one is handed to a human before the model is called: it costs nothing
and the model never sees it."""

import re

MAX_TRIGGERS = 50
MAX_PATTERN_CHARS = 200


def compile_triggers(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    """Patterns as saved, each checked by ``trigger_problem`` then."""
    return tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)


def trigger_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a trigger, or None."""
    if not pattern.strip():
        return "a trigger must not be blank"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"a trigger has at most {MAX_PATTERN_CHARS} characters"
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        return f"{pattern!r} is not a regular expression: {exc}"
    return None
