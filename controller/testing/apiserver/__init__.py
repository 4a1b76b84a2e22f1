"""The earlier home of the in-memory API server, now the top-level ``apiserver`` package.

Only ``python -m controller.testing.apiserver`` is kept here, for scripts written
against it; it is excluded from the wheel and the image like the server itself.
"""
