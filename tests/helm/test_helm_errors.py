"""How helm's output becomes a result: output streams are read to the end but only a
capped head (stdout) or tail (stderr) is kept; the error is the last ``Error:``
paragraph of stderr, one line, capped, and scrubbed of every string from the values
(before it is joined and cut, so no secret survives either); and helm's --timeout
format."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.helm import (
    ERROR_LIMIT,
    MIN_REDACTED_LENGTH,
    REDACTED,
    go_duration,
    helm_error,
    read_capped,
    scrub,
)


@pytest.mark.parametrize(("keep_tail", "expected"), [(False, b"01234"), (True, b"56789")])
async def test_output_is_capped_and_drained(keep_tail: bool, expected: bytes) -> None:
    stream = asyncio.StreamReader()
    for chunk in (b"012", b"3456", b"789"):
        stream.feed_data(chunk)
    stream.feed_eof()
    assert await read_capped(stream, 5, keep_tail=keep_tail) == expected
    assert stream.at_eof()


def test_error_is_the_last_error_paragraph_without_hints() -> None:
    stderr = (
        "WARNING: something unrelated\n"
        "Error: first attempt\n"
        "Error: UPGRADE FAILED: execution error at (c/templates/cm.yaml:6:8):\n"
        "\tneed a value\n"
        "\n"
        "Use --debug flag to render out invalid YAML\n"
    )
    assert helm_error(stderr, []) == (
        "Error: UPGRADE FAILED: execution error at (c/templates/cm.yaml:6:8): need a value"
    )


def test_error_without_an_error_line_is_the_last_line() -> None:
    assert helm_error("panic: boom\n\ngoroutine 1\n  \n", []) == "goroutine 1"
    assert helm_error("", []) == ""


def test_error_is_capped() -> None:
    assert len(helm_error("Error: " + "x" * 10 * ERROR_LIMIT, [])) == ERROR_LIMIT


def test_scrub_redacts_values_and_their_json_escaped_form() -> None:
    secret = 'pa"ss\\word'
    message = f'failed: {secret} and "pa\\"ss\\\\word" in /tmp/values-1/values.yaml'
    scrubbed = scrub(message, [secret, "/tmp/values-1"])
    assert scrubbed == f'failed: {REDACTED} and "{REDACTED}" in {REDACTED}/values.yaml'


def test_scrub_redacts_each_line_of_a_multi_line_secret() -> None:
    secret = "first-line\n  second-line\nok\n"
    message = "token first-line\n    second-line ok"
    assert scrub(message, [secret]) == f"token {REDACTED}\n    {REDACTED} ok"


def test_error_redacts_a_secret_split_across_lines() -> None:
    secret = "line-one-secret\nline-two-secret"
    stderr = f"Error: execution error: token {secret} is refused\n"
    assert helm_error(stderr, [secret]) == f"Error: execution error: token {REDACTED} is refused"
    indented = "Error: token line-one-secret\n\tline-two-secret is refused\n"
    assert helm_error(indented, [secret]) == f"Error: token {REDACTED} {REDACTED} is refused"


@given(padding=st.integers(min_value=ERROR_LIMIT - 40, max_value=ERROR_LIMIT + 5))
def test_secret_at_the_cap_leaves_no_prefix(padding: int) -> None:
    secret = "s3cr3t-at-the-cap"
    stderr = "Error: " + "x" * padding + secret + " is refused\n"
    error = helm_error(stderr, [secret])
    assert len(error) <= ERROR_LIMIT
    assert not any(secret[:n] in error for n in range(MIN_REDACTED_LENGTH, len(secret) + 1))


def test_scrub_keeps_short_strings() -> None:
    assert scrub("a yes or no", ["yes", "no"]) == "a yes or no"


@given(
    message=st.text(alphabet="xyz01 ", max_size=60),
    secrets=st.lists(st.text(alphabet="xyz01", min_size=4, max_size=8), max_size=5),
)
def test_no_secret_survives_scrubbing(message: str, secrets: list[str]) -> None:
    # Seed the message with the secrets so that they actually occur, overlapping too.
    message = message + "".join(secrets) + message.join(secrets)
    scrubbed = scrub(message, secrets)
    assert not any(secret in scrubbed for secret in secrets)


def test_go_duration_is_in_milliseconds() -> None:
    assert go_duration(300) == "300000ms"
    assert go_duration(2.5) == "2500ms"
    assert go_duration(-1) == "0ms"
