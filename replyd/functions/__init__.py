"""Assistants' functions: their schema, argument validation, signed webhook calls behind an
address guard, and the built-in ``handoff_to_human``."""
