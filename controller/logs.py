"""Logging setup: human-readable text by default, one JSON object per line for machines.

Lines about a release carry ``hr`` (namespace/name of the HelmRelease) and ``release``
(namespace/name of the Helm release) passed through ``extra=``; both formats show them.
Nothing here ever formats values: callers pass keys and reasons only; a message longer
than ``MAX_MESSAGE`` (a name a user made huge) is cut.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

CONTEXT_FIELDS = ("hr", "release", "action", "key")
MAX_MESSAGE = 8192
"""Characters of one log message kept: names and URLs come from users and can be huge."""


class CappedMessages(logging.Filter):
    """Cuts a message beyond ``MAX_MESSAGE`` characters, saying how much was left out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:
            record.msg = (
                f"{message[:MAX_MESSAGE]}... ({len(message) - MAX_MESSAGE} more characters)"
            )
            record.args = None
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        return f"{line} [{context}]" if context else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            if hasattr(record, name):
                entry[name] = str(getattr(record, name))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"))


def setup(level: str, fmt: str) -> None:
    """Route every logger to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(CappedMessages())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print every probe and scrape.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
