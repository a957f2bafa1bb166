"""The reply pipeline: lock, variables, prompt, context budget, model call, charging. No FastAPI here."""
