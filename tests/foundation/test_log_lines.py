"""Log lines stay lines: a message a user made huge (a 1 MiB chart name) is cut, saying
how much was left out, in both formats; short messages pass as they are."""

from __future__ import annotations

import json
import logging

from controller.logs import MAX_MESSAGE, CappedMessages, JsonFormatter, TextFormatter


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("controller.test", logging.INFO, __file__, 1, message, args, None)


def test_a_huge_message_is_cut_in_both_formats() -> None:
    for formatter in (TextFormatter(), JsonFormatter()):
        line = record("fetched chart %s", "x" * 1_048_576)
        assert CappedMessages().filter(line)
        shown = formatter.format(line)
        assert len(shown) < MAX_MESSAGE + 500
        assert f"({len('fetched chart ') + 1_048_576 - MAX_MESSAGE} more characters)" in shown
    assert json.loads(shown)["msg"].startswith("fetched chart xxx")


def test_a_short_message_is_untouched() -> None:
    line = record("installed %s", "default/web")
    assert CappedMessages().filter(line)
    assert line.getMessage() == "installed default/web"
