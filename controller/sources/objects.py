"""ConfigMap and Secret sources: one key of one object, read through the API server.

A ConfigMap's key is read from ``data`` (text) or ``binaryData`` (base64); a Secret's
from ``data`` (base64; a server never stores ``stringData``). The bytes read are handed
back and never logged: a Secret's value is a secret.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping
from typing import Any

from controller.api import SourceKind, ValuesSource
from controller.kube.client import ApiError, KubeClient, Unreachable, resource_path
from controller.sources.errors import Missing, SourceError, failure

PLURALS = {SourceKind.CONFIG_MAP: "configmaps", SourceKind.SECRET: "secrets"}


async def read_key(
    client: KubeClient,
    source: ValuesSource,
    namespace: str,
    *,
    timeout: float,  # noqa: ASYNC109 - a budget for the whole read, retries included
    limit: int,
) -> bytes | Missing | SourceError:
    """The bytes of ``source``'s key in ``namespace``, or why there are none."""
    path = resource_path("", "v1", PLURALS[source.kind], namespace, source.name)
    try:
        async with asyncio.timeout(timeout):
            obj = await client.get(path)
    except TimeoutError:
        return failure(
            source,
            "SourceUnreachable",
            f"could not be read: the API server did not answer within {timeout:g}s",
        )
    except Unreachable as error:
        problem = f"could not be read: the API server could not be reached ({error.reason})"
        return failure(source, "SourceUnreachable", problem)
    except ApiError as error:
        problem = f"could not be read: the API server answered {error.status} {error.reason}"
        return failure(source, "SourceUnreachable", problem)
    if obj is None:
        return Missing("SourceNotFound", f"does not exist in namespace {namespace}")
    value = _value(obj, source)
    if value is None:
        return Missing("SourceKeyNotFound", f"exists but has no key {source.key}")
    if isinstance(value, SourceError):
        return value
    if len(value) > limit:
        return failure(source, "SourceTooLarge", f"is larger than the limit of {limit} bytes")
    return value


def _value(obj: Mapping[str, Any], source: ValuesSource) -> bytes | SourceError | None:
    """The key's bytes, None when the object has no such key."""
    data = _map(obj.get("data"))
    if source.kind is SourceKind.CONFIG_MAP:
        text = data.get(source.key)
        if isinstance(text, str):
            return text.encode()
        encoded = _map(obj.get("binaryData")).get(source.key)
    else:
        encoded = data.get(source.key)
    if encoded is None:
        return None
    if not isinstance(encoded, str):
        return failure(source, "SourceInvalid", "holds a key that is not a string")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return failure(source, "SourceInvalid", "holds a key that is not valid base64")


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
