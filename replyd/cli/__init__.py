"""The ``replyd`` command line: the operator's way in."""
