"""ConfigMap and Secret sources against the in-memory API server, the objects created
through the API: present (data, binaryData, base64 Secret data, another key), missing,
missing but optional, without the key, not YAML, not a map, empty, too large, the API
failing, and references to other namespaces allowed and refused (then with no request)."""

from __future__ import annotations

import dataclasses

import pytest
from sourcestesting import (
    PODINFO,
    composed,
    failed,
    put_config_map,
    put_secret,
    release,
    source,
)

from apiserver import ApiServer
from controller.api import SourceKind
from controller.kube.client import KubeClient
from controller.settings import SourceSettings
from controller.sources import ValuesResolver

CM, SECRET = SourceKind.CONFIG_MAP, SourceKind.SECRET


async def test_config_map_values_are_merged_under_spec_values(
    client: KubeClient, resolver: ValuesResolver
) -> None:
    await put_config_map(client, "env", {"values.yaml": "region: eu\nreplicas: 2\n"})

    result = composed(
        await resolver.compose(release(source(CM, "env"), values={"replicas": 3}), PODINFO)
    )

    assert result.values == {"region": "eu", "replicas": 3}
    assert result.notes == ()


async def test_config_map_binary_data_is_read(client: KubeClient, resolver: ValuesResolver) -> None:
    await put_config_map(client, "bin", binary={"values.yaml": b"a: 1\n"})

    result = composed(await resolver.compose(release(source(CM, "bin")), PODINFO))

    assert result.values == {"a": 1}


async def test_secret_data_is_decoded_from_base64(
    client: KubeClient, resolver: ValuesResolver
) -> None:
    await put_secret(client, "creds", {"prod.yaml": b"db:\n  password: s3cr3t\n"})

    spec = release(source(SECRET, "creds", key="prod.yaml"))
    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == {"db": {"password": "s3cr3t"}}


@pytest.mark.parametrize("kind", [CM, SECRET])
async def test_a_missing_object_is_an_error_naming_it_and_its_namespace(
    resolver: ValuesResolver, kind: SourceKind
) -> None:
    missing = source(kind, "absent")

    error = failed(await resolver.compose(release(missing), PODINFO), "SourceNotFound")

    assert error.source == missing
    assert error.retryable
    assert error.message == f"{missing} does not exist in namespace default"


@pytest.mark.parametrize("kind", [CM, SECRET])
async def test_a_missing_optional_object_is_skipped_with_a_note(
    resolver: ValuesResolver, kind: SourceKind
) -> None:
    optional = source(kind, "absent", optional=True)

    result = composed(await resolver.compose(release(optional, values={"a": 1}), PODINFO))

    assert result.values == {"a": 1}
    assert result.notes == (f"optional {optional} does not exist in namespace default: skipped",)


@pytest.mark.parametrize("kind", [CM, SECRET])
async def test_a_missing_key_is_an_error_and_skipped_when_optional(
    client: KubeClient, resolver: ValuesResolver, kind: SourceKind
) -> None:
    if kind is CM:
        await put_config_map(client, "other", {"values.yaml": "a: 1"})
    else:
        await put_secret(client, "other", {"values.yaml": b"a: 1"})
    required = source(kind, "other", key="prod.yaml")
    optional = dataclasses.replace(required, optional=True)

    error = failed(await resolver.compose(release(required), PODINFO), "SourceKeyNotFound")
    skipped = composed(await resolver.compose(release(optional), PODINFO))

    assert error.retryable
    assert error.message == f"{required} exists but has no key prod.yaml"
    assert skipped.values == {}
    assert skipped.notes == (f"optional {optional} exists but has no key prod.yaml: skipped",)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("a: [1, 2\n", "is not valid YAML (line 2, column 1)"),
        ("- a\n- b\n", "is not a map of values but a list"),
        ("just text\n", "is not a map of values but a string"),
        ("42\n", "is not a map of values but a number"),
        ("a: .nan\n", "holds .nan or .inf, which values cannot hold"),
    ],
)
@pytest.mark.parametrize("optional", [False, True])
async def test_content_that_is_not_a_map_of_values_is_an_error_or_skipped_when_optional(
    client: KubeClient, resolver: ValuesResolver, content: str, problem: str, optional: bool
) -> None:
    """An optional source that cannot be used is skipped, naming why, as helm-operator did."""
    await put_config_map(client, "broken", {"values.yaml": content})
    broken = source(CM, "broken", optional=optional)

    result = await resolver.compose(release(broken), PODINFO)
    if optional:
        assert composed(result).notes == (f"optional {broken} {problem}: skipped",)
        return
    error = failed(result, "SourceInvalid")

    assert error.message == f"{broken} {problem}"
    assert error.retryable  # the ConfigMap may be fixed; the next attempt reads it again


@pytest.mark.parametrize("content", ["", "# nothing set here\n", "---\n"])
async def test_an_empty_document_is_no_values(
    client: KubeClient, resolver: ValuesResolver, content: str
) -> None:
    await put_config_map(client, "empty", {"values.yaml": content})

    result = composed(await resolver.compose(release(source(CM, "empty")), PODINFO))

    assert result.values == {}


async def test_a_secret_that_is_not_utf8_is_invalid(
    client: KubeClient, resolver: ValuesResolver
) -> None:
    await put_secret(client, "binary", {"values.yaml": b"\xff\xfe\x00a"})

    error = failed(
        await resolver.compose(release(source(SECRET, "binary")), PODINFO), "SourceInvalid"
    )

    assert error.message.endswith("is not UTF-8 text")


async def test_a_value_larger_than_the_limit_is_refused(client: KubeClient) -> None:
    await put_config_map(client, "big", {"values.yaml": "a: " + "x" * 200})

    async with ValuesResolver(client, SourceSettings(max_size=100)) as resolver:
        error = failed(
            await resolver.compose(release(source(CM, "big")), PODINFO), "SourceTooLarge"
        )

    assert error.message.endswith("is larger than the limit of 100 bytes")


async def test_an_api_failure_is_unreachable_and_retryable(
    apiserver: ApiServer, resolver: ValuesResolver
) -> None:
    apiserver.faults.fail_next(1, verb="get", resource="secrets", status=500)

    error = failed(
        await resolver.compose(release(source(SECRET, "any")), PODINFO), "SourceUnreachable"
    )

    assert error.retryable
    assert "the API server answered 500 InternalError" in error.message


async def test_another_namespace_is_read_when_allowed(
    client: KubeClient, resolver: ValuesResolver
) -> None:
    await put_config_map(client, "shared", {"values.yaml": "team: blue"}, namespace="platform")

    spec = release(source(CM, "shared", namespace="platform"))
    result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == {"team": "blue"}


@pytest.mark.parametrize("kind", [CM, SECRET])
async def test_another_namespace_is_refused_without_any_request_when_turned_off(
    apiserver: ApiServer, client: KubeClient, kind: SourceKind
) -> None:
    await put_config_map(client, "shared", {"values.yaml": "team: blue"}, namespace="platform")
    await put_config_map(client, "local", {"values.yaml": "a: 1"})
    local, foreign = source(CM, "local"), source(kind, "shared", 1, namespace="platform")
    requests_before = len(apiserver.audit)

    settings = SourceSettings(cross_namespace_refs=False)
    async with ValuesResolver(client, settings) as resolver:
        error = failed(
            await resolver.compose(release(local, foreign), PODINFO), "CrossNamespaceRef"
        )

    assert error.source == foreign
    assert not error.retryable
    assert error.message == (
        f"{foreign} is in namespace platform, not the HelmRelease's (default): "
        "references to other namespaces are turned off"
    )
    assert len(apiserver.audit) == requests_before  # not even the source before it was read


async def test_the_releases_own_namespace_named_explicitly_is_not_another_one(
    client: KubeClient,
) -> None:
    await put_config_map(client, "mine", {"values.yaml": "a: 1"}, namespace="team")
    spec = release(source(CM, "mine", namespace="team"), namespace="team")

    async with ValuesResolver(client, SourceSettings(cross_namespace_refs=False)) as resolver:
        result = composed(await resolver.compose(spec, PODINFO))

    assert result.values == {"a": 1}
