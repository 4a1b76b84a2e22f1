"""Bodies and patterns read as a real API server reads them (Go, not Python).

``NaN``, ``Infinity`` and numbers beyond a float64 (``1e400``) are refused (400), where
Python's JSON would take them; objects nested up to the server's 10,000 levels are stored
and served whole, deeper ones refused (400, not a 500 of a recursion error); a CRD
``pattern`` ending in ``$`` does not match before a trailing newline, as in Go's RE2.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from apitesting import Client, helmrelease

from apiserver import ApiServer
from apiserver.jsontext import dumps
from apiserver.schema.validate import go_regexp

HELMRELEASES = "/apis/flux.weave.works/v1beta1/namespaces/default/helmreleases"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (b'{"x": NaN}', "invalid character 'N' looking for beginning of value"),
        (b'{"x": Infinity}', "invalid character 'I' looking for beginning of value"),
        (b'{"x": 1e400}', "cannot unmarshal number 1e400 into Go value of type float64"),
    ],
)
async def test_numbers_go_cannot_hold_are_refused(
    client: Client, crds: None, values: bytes, message: str
) -> None:
    body = (
        json.dumps(helmrelease("numbers"))
        .encode()
        .replace(b'"spec": {', b'"spec": {"values": ' + values + b", ")
    )
    reply = await client.request("POST", HELMRELEASES, raw=body)
    assert reply.status == 400
    assert message in reply.body["message"]


async def test_deep_objects_are_stored_or_refused_as_bad_requests(
    apiserver: ApiServer, client: Client, crds: None
) -> None:
    """Values nested deeper than any values file needs (the operator refuses past 100) are
    stored and served; deeper than this server's own walks go (a real one stores up to
    10,000 levels) is a 400, never a 500; past 10,000 the real server's own message."""
    deep = helmrelease("deep")
    deep["spec"]["values"] = nested(150)
    assert (await client.post(HELMRELEASES, deep)).status == 201
    assert (await client.get(f"{HELMRELEASES}/deep")).body["spec"]["values"] == nested(150)

    for depth, message in ((5_000, "nested deeper than"), (10_001, "exceeded max depth of 10000")):
        deeper = helmrelease(f"deeper-{depth}")
        deeper["spec"]["values"] = nested(depth)
        reply = await client.request("POST", HELMRELEASES, raw=dumps(deeper))
        assert reply.status == 400
        assert message in reply.body["message"]


async def test_a_pattern_ending_in_dollar_refuses_a_trailing_newline(
    client: Client, crds: None
) -> None:
    release = helmrelease("newline")
    release["spec"]["releaseName"] = "rabbitmq\n"
    reply = await client.post(HELMRELEASES, release)
    assert reply.status == 422
    assert "spec.releaseName in body should match" in reply.body["message"]


@pytest.mark.parametrize(
    ("pattern", "python"),
    [
        ("^[a-z]+$", "^[a-z]+\\Z"),
        ("[$]", "[$]"),
        ("[]$]x$", "[]$]x\\Z"),
        ("[^$]+$", "[^$]+\\Z"),
        ("a\\z", "a\\Z"),
        ("a\\$", "a\\$"),
    ],
)
def test_go_patterns_in_python_terms(pattern: str, python: str) -> None:
    assert go_regexp(pattern) == python
