"""Composition: three sources of three kinds and ``spec.values`` merged in order (nested
maps merged key by key, lists and scalars replaced, the later winning, ``spec.values``
last), target paths (typed as ``--set`` types them, escaped dots, placed in order and
under ``spec.values``, refused before any request when they cannot work), notes in order,
a large document, and a Secret's value that never shows in errors, notes, reprs or logs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sourcestesting import PODINFO, composed, failed, put_config_map, put_secret, release, source

from apiserver import ApiServer
from controller.api import SourceKind, ValuesSource
from controller.kube.client import KubeClient
from controller.sources import ValuesResolver
from testkit import ChartRepository

CM, SECRET, URL = SourceKind.CONFIG_MAP, SourceKind.SECRET, SourceKind.URL

FIRST = """
image: {repository: first, tag: "1", pullPolicy: Always}
ports: [80, 443]
resources: {limits: {cpu: 100m, memory: 64Mi}}
only_first: 1
scalar_then_map: plain
map_then_scalar: {a: 1}
"""
SECOND = """
image: {tag: "2"}
ports: [8080]
resources: {limits: {memory: 128Mi}, requests: {cpu: 10m}}
only_second: 2
scalar_then_map: {now: a map}
map_then_scalar: 7
"""
THIRD = """
image: {tag: "3", extra: {deep: true}}
resources: {requests: {cpu: 20m}}
only_third: 3
nulled: null
"""
SPEC_VALUES: dict[str, Any] = {"image": {"pullPolicy": "IfNotPresent"}, "ports": [9090]}
MERGED = {
    "image": {
        "repository": "first",
        "tag": "3",
        "pullPolicy": "IfNotPresent",
        "extra": {"deep": True},
    },
    "ports": [9090],
    "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}, "requests": {"cpu": "20m"}},
    "only_first": 1,
    "only_second": 2,
    "only_third": 3,
    "scalar_then_map": {"now": "a map"},
    "map_then_scalar": 7,
    "nulled": None,
}


async def three_sources(
    client: KubeClient, server: ChartRepository, values_dir: Path
) -> tuple[ValuesSource, ValuesSource, ValuesSource]:
    """The first document in a ConfigMap, the second in a Secret, the third at a URL."""
    await put_config_map(client, "first", {"values.yaml": FIRST})
    await put_secret(client, "second", {"values.yaml": SECOND.encode()})
    (values_dir / "third.yaml").write_text(THIRD)
    return (
        source(CM, "first", 0),
        source(SECRET, "second", 1),
        source(URL, f"{server.url}/third.yaml", 2),
    )


async def test_sources_merge_in_order_under_spec_values(
    client: KubeClient,
    values_server: ChartRepository,
    values_dir: Path,
    resolver: ValuesResolver,
) -> None:
    sources = await three_sources(client, values_server, values_dir)

    result = composed(await resolver.compose(release(*sources, values=SPEC_VALUES), PODINFO))

    assert result.values == MERGED
    assert result.notes == ()


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ((0, 1, 2), {"tag": "3", "ports": [8080]}),
        ((2, 1, 0), {"tag": "1", "ports": [80, 443]}),
        ((0, 2, 1), {"tag": "2", "ports": [8080]}),
    ],
)
async def test_the_later_source_wins(
    client: KubeClient,
    values_server: ChartRepository,
    values_dir: Path,
    resolver: ValuesResolver,
    order: tuple[int, int, int],
    expected: dict[str, Any],
) -> None:
    sources = await three_sources(client, values_server, values_dir)

    spec = release(*(sources[index] for index in order))
    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values["image"]["tag"] == expected["tag"]
    assert result.values["ports"] == expected["ports"]
    assert result.values["image"]["repository"] == "first"  # maps merge whatever the order


async def test_without_sources_the_spec_values_are_all(resolver: ValuesResolver) -> None:
    values = {"a": {"b": [1, 2]}}

    result = composed(await resolver.compose(release(values=values), PODINFO))

    assert result.values == values
    assert result.values is not values


async def test_notes_follow_the_sources_order(client: KubeClient, resolver: ValuesResolver) -> None:
    await put_config_map(client, "present", {"values.yaml": "a: 1"})
    gone = source(SECRET, "gone", 0, optional=True)
    present = source(CM, "present", 1)
    keyless = source(CM, "present", 2, key="other", optional=True)

    result = composed(await resolver.compose(release(gone, present, keyless), PODINFO))

    assert result.values == {"a": 1}
    assert result.notes == (
        f"optional {gone} does not exist in namespace default: skipped",
        f"optional {keyless} exists but has no key other: skipped",
    )


@pytest.mark.parametrize(
    ("target_path", "content", "expected"),
    [
        (
            "tls.crt",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
            {"tls": {"crt": "-----BEGIN CERTIFICATE-----\nMIIB\n"}},
        ),
        (r"config.app\.yml", "a: 1", {"config": {"app.yml": "a: 1"}}),
        ("enabled", "true", {"enabled": True}),
        ("enabled", "False", {"enabled": False}),
        ("enabled", "'true'", {"enabled": "true"}),
        ("replicas", "3", {"replicas": 3}),
        ("replicas", '"3"', {"replicas": "3"}),
        ("mode", "0755", {"mode": "0755"}),
        ("ratio", "1.5", {"ratio": "1.5"}),
        ("gone", "null", {"gone": None}),
        ("list", "{a,b}", {"list": "{a,b}"}),
        ("empty", "", {"empty": ""}),
    ],
)
async def test_a_target_path_places_the_content_as_one_value(
    client: KubeClient,
    resolver: ValuesResolver,
    target_path: str,
    content: str,
    expected: dict[str, Any],
) -> None:
    await put_config_map(client, "one", {"value": content})
    spec = release(source(CM, "one", key="value", target_path=target_path))

    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == expected


async def test_a_target_path_overrides_earlier_sources_and_spec_values_override_it(
    client: KubeClient, resolver: ValuesResolver
) -> None:
    await put_config_map(
        client, "base", {"values.yaml": "tls: {crt: old, key: k}\nimage: {tag: a}"}
    )
    await put_secret(client, "cert", {"tls.crt": b"new"})
    await put_config_map(client, "tag", {"tag": "b"})
    sources = (
        source(CM, "base", 0),
        source(SECRET, "cert", 1, key="tls.crt", target_path="tls.crt"),
        source(CM, "tag", 2, key="tag", target_path="image.tag"),
    )

    result = composed(
        await resolver.compose(release(*sources, values={"image": {"tag": "c"}}), PODINFO)
    )

    assert result.values == {"tls": {"crt": "new", "key": "k"}, "image": {"tag": "c"}}


@pytest.mark.parametrize(
    ("target_path", "problem"),
    [
        ("a..b", "has an empty key (a leading, trailing or doubled dot)"),
        (".a", "has an empty key (a leading, trailing or doubled dot)"),
        ("a.", "has an empty key (a leading, trailing or doubled dot)"),
        ("list[0]", "uses a list index ([...]), which is not supported"),
    ],
)
async def test_a_target_path_that_cannot_work_is_refused_before_any_request(
    apiserver: ApiServer, resolver: ValuesResolver, target_path: str, problem: str
) -> None:
    before = len(apiserver.audit)
    first = source(CM, "first", 0)
    broken = source(CM, "second", 1, target_path=target_path)

    error = failed(await resolver.compose(release(first, broken), PODINFO), "SourceInvalid")

    assert error.source == broken
    assert not error.retryable
    assert error.message == f"{broken} has a targetPath that {problem}"
    assert len(apiserver.audit) == before


async def test_a_large_document_is_composed(client: KubeClient, resolver: ValuesResolver) -> None:
    entries = {f"key{index}": {"value": index, "list": [index]} for index in range(3000)}
    document = "\n".join(
        f"key{index}: {{value: {index}, list: [{index}]}}" for index in range(3000)
    )
    assert len(document) > 64 << 10
    await put_config_map(client, "large", {"values.yaml": document})

    result = composed(await resolver.compose(release(source(CM, "large")), PODINFO))

    assert result.values == entries


SECRET_VALUE = "hunter2-do-not-show"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (f"password: [{SECRET_VALUE}", "SourceInvalid"),
        (f"{SECRET_VALUE}\n", "SourceInvalid"),
        (f"- {SECRET_VALUE}\n", "SourceInvalid"),
        (f"password: {SECRET_VALUE}\n", None),
    ],
)
async def test_a_secrets_value_never_shows(
    client: KubeClient,
    resolver: ValuesResolver,
    caplog: pytest.LogCaptureFixture,
    content: str,
    reason: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    await put_secret(client, "creds", {"values.yaml": content.encode()})
    sources = (source(SECRET, "creds", 0), source(SECRET, "absent", 1, optional=True))

    result = await resolver.compose(release(*sources), PODINFO)

    if reason is None:
        values = composed(result)
        assert values.values == {"password": SECRET_VALUE}
        shown = [repr(values), str(values), *values.notes]
    else:
        error = failed(result, reason)
        shown = [repr(error), str(error), error.message]
    shown += [record.getMessage() for record in caplog.records]
    assert not [text for text in shown if SECRET_VALUE in text]
