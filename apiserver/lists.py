"""LIST semantics as the real server answers them: resourceVersion, resourceVersionMatch,
limit and continue.

Which state a LIST reads (``ListOptions.read``):

- no resourceVersion: the most recent (a consistent read);
- ``resourceVersion=0``: any state, here the most recent; ``limit`` is ignored, as the watch
  cache ignores it;
- ``resourceVersionMatch=NotOlderThan`` (or a resourceVersion without a match and without a
  limit): at least that resourceVersion, here the most recent;
- ``resourceVersionMatch=Exact`` (or a resourceVersion without a match but with a limit, the
  legacy form): exactly that resourceVersion, rebuilt from the store's history; 410 Expired
  when the history (compacted like etcd's) no longer reaches back that far;
- ``continue``: the resourceVersion of the first page, so that pages make one consistent list;
  when that state is compacted away, 410 with a token (``rv: -1``) that goes on at the most
  recent state, as the real server offers.

A resourceVersion the store has not reached yet is waited for (``WAIT_FOR_RESOURCE_VERSION``),
then answered 504 "Too large resource version". Invalid combinations are refused with the real
server's words: 422 for ListOptions validation, 400 for a bad token or resourceVersion.

Continue tokens are the real server's: base64url (unpadded) JSON ``{"v": "meta.k8s.io/v1",
"rv": N, "start": KEY}``, KEY the storage key after the last object returned relative to the
listed prefix (``name\\x00`` in a namespace, ``namespace/name\\x00`` across namespaces); objects
are listed in storage-key order.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import errors
from .errors import StatusCause
from .resources import GroupResource

EXACT, NOT_OLDER_THAN = "Exact", "NotOlderThan"
TOKEN_VERSION = "meta.k8s.io/v1"
WAIT_FOR_RESOURCE_VERSION = 3.0
"""Seconds a LIST waits for a resourceVersion the store has not reached (the watch cache's
``blockTimeout``) before answering 504."""
RETRY_AFTER_TOO_LARGE = 1
LIST_OPTIONS = GroupResource("meta.k8s.io", "options")

EXPIRED = "The resourceVersion for the provided list is too old."
INCONSISTENT_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list."
)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

Matcher = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class ListOptions:
    """What a LIST asked for, validated."""

    resource_version: str = ""
    match: str = ""
    limit: int = 0
    start: str | None = None
    """The storage key to start at (from ``continue``), None for the first page."""
    continue_rv: int = 0
    """The resourceVersion of the token: > 0 that one, -1 the most recent."""

    def wanted(self) -> tuple[int, bool] | None:
        """The resourceVersion the LIST must be served at, and whether exactly (else at
        least); None when any state will do (the most recent is served)."""
        if self.start is not None:
            return (self.continue_rv, True) if self.continue_rv > 0 else None
        if self.resource_version in ("", "0"):
            return None
        rv = int(self.resource_version)
        exact = self.match == EXACT or (self.match == "" and self.limit > 0)
        return rv, exact

    @property
    def page_size(self) -> int:
        """The limit that applies (0: none): the watch cache ignores it for resourceVersion 0."""
        return 0 if self.resource_version == "0" and self.start is None else self.limit


def parse_list_options(query: Mapping[str, str]) -> ListOptions:
    """A LIST's options, or the real server's error for invalid ones."""
    rv = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    token = query.get("continue", "")
    causes = []
    if match:
        if not rv:
            causes.append(
                _forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided")
            )
        if token:
            causes.append(_forbidden("resourceVersionMatch is forbidden when continue is provided"))
        if match not in (EXACT, NOT_OLDER_THAN):
            causes.append(
                StatusCause(
                    "FieldValueNotSupported",
                    f'Unsupported value: {json.dumps(match)}: supported values: "Exact", '
                    '"NotOlderThan", ""',
                    "resourceVersionMatch",
                )
            )
        if match == EXACT and rv == "0":
            causes.append(
                _forbidden('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
            )
    if "sendInitialEvents" in query:
        causes.append(
            StatusCause(
                "FieldValueForbidden",
                "Forbidden: sendInitialEvents is forbidden for list",
                "sendInitialEvents",
            )
        )
    if causes:
        raise errors.invalid("ListOptions", LIST_OPTIONS, "", causes)
    limit_text = query.get("limit", "")
    limit = int(limit_text) if limit_text.isdigit() else 0
    if token:
        start, continue_rv = decode_continue(token)
        if rv not in ("", "0"):
            raise errors.bad_request(
                "specifying resource version is not allowed when using continue"
            )
        return ListOptions(rv, match, limit, start, continue_rv)
    if rv not in ("", "0"):
        _parse_rv(rv)
    return ListOptions(rv, match, limit)


def _forbidden(detail: str) -> StatusCause:
    return StatusCause("FieldValueForbidden", f"Forbidden: {detail}", "resourceVersionMatch")


def _parse_rv(text: str) -> int:
    """ParseUint as the storage versioner does it, with its words when it fails."""
    if text.isdigit() and len(text) <= 20 and int(text) < 2**64:
        return int(text)
    reason = "value out of range" if text.isdigit() else "invalid syntax"
    raise errors.bad_request(
        f"invalid resource version: resourceVersion: Invalid value: {json.dumps(text)}: "
        f"strconv.ParseUint: parsing {json.dumps(text)}: {reason}"
    )


def encode_continue(start: str, rv: int) -> str:
    """A continue token starting at storage key ``start`` of the state at ``rv``."""
    token = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, int]:
    """The start key and resourceVersion of a continue token (storage.DecodeContinue)."""
    invalid = "invalid continue token: continue key is not valid"
    bad_char = _BASE64URL.match(token)
    end = bad_char.end() if bad_char is not None else 0
    if end < len(token) or len(token) % 4 == 1:
        position = end if end < len(token) else len(token) - 1
        raise errors.bad_request(f"{invalid}: illegal base64 data at input byte {position}")
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        decoded = json.loads(data)
    except (ValueError, binascii.Error):
        raise errors.bad_request(f"{invalid}: invalid character looking for value") from None
    if not isinstance(decoded, dict):
        raise errors.bad_request(
            f"{invalid}: json: cannot unmarshal value into Go value of type storage.continueToken"
        )
    version, rv, start = decoded.get("v", ""), decoded.get("rv", 0), decoded.get("start", "")
    if not isinstance(rv, int) or isinstance(rv, bool) or not isinstance(start, str):
        raise errors.bad_request(
            f"{invalid}: json: cannot unmarshal into Go struct field continueToken of type "
            "int64 or string"
        )
    if version != TOKEN_VERSION:
        raise errors.bad_request(
            f"{invalid}: server does not recognize this encoded version {version}"
        )
    if rv == 0:
        raise errors.bad_request(
            f"{invalid}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    if not start:
        raise errors.bad_request(f"{invalid}: encoded start key empty (version meta.k8s.io/v1)")
    key = start if start.startswith("/") else "/" + start
    segments = key[1:].split("/")
    if key != "/" and any(segment in ("", ".", "..") for segment in segments):
        raise errors.bad_request(f"{invalid}: {start}")
    return key[1:], rv


def storage_key(obj: dict[str, Any], across_namespaces: bool) -> str:
    """An object's storage key relative to the listed prefix."""
    metadata = obj["metadata"]
    namespace = metadata.get("namespace", "")
    if across_namespaces and namespace:
        return f"{namespace}/{metadata['name']}"
    return str(metadata["name"])


def _name_key(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _namespaced_key(obj: dict[str, Any]) -> str:
    return storage_key(obj, True)


@dataclass(frozen=True)
class Page:
    """One page of a LIST: its objects and what its ListMeta says of the rest."""

    items: list[dict[str, Any]]
    next_start: str | None
    """The start key of the next page, None when this is the last."""
    remaining: int | None
    """remainingItemCount: set only for a LIST without selectors that has more."""


@dataclass(frozen=True)
class Ordered:
    """The objects of one listed state in storage-key order, with their keys."""

    objects: list[dict[str, Any]]
    keys: list[str]


def in_key_order(objects: Iterable[dict[str, Any]], across_namespaces: bool) -> Ordered:
    key = _namespaced_key if across_namespaces else _name_key
    ordered = sorted(objects, key=key)
    return Ordered(ordered, [key(obj) for obj in ordered])


class ListOrders:
    """The ordered objects of the states recent LISTs read, so that the pages of one list
    are cut from one sort (as the watch cache cuts them from its ordered store) instead of
    every page sorting every object again: a paged LIST of N objects costs N log N, not
    N² / limit. A state is immutable once read (the store replaces objects, never edits
    them), so its order is kept by resource, namespace and resourceVersion."""

    def __init__(self, keep: int = 8) -> None:
        self._keep = keep
        self._kept: OrderedDict[tuple[GroupResource, str | None, int], Ordered] = OrderedDict()

    def ordered(
        self,
        state: tuple[GroupResource, str | None, int],
        objects: Callable[[], Iterable[dict[str, Any]] | None],
        across_namespaces: bool,
    ) -> Ordered | None:
        """The state's objects in key order; ``objects`` reads them when the order of that
        state is not kept (None: the state is no longer available)."""
        found = self._kept.get(state)
        if found is not None:
            self._kept.move_to_end(state)
            return found
        read = objects()
        if read is None:
            return None
        found = self._kept[state] = in_key_order(read, across_namespaces)
        while len(self._kept) > self._keep:
            self._kept.popitem(last=False)
        return found


def page(ordered: Ordered, options: ListOptions, matches: Matcher | None) -> Page:
    """The page a LIST returns: objects in key order from the start key, those the selectors
    match, at most ``page_size`` of them. As in the watch cache, there are more when any key
    follows the last one returned, whether the selectors would match it or not."""
    objects, keys = ordered.objects, ordered.keys
    first = 0 if options.start is None else bisect.bisect_left(keys, options.start)
    limit = options.page_size
    if matches is None:
        end = len(objects) if not limit else min(len(objects), first + limit)
        selected = objects[first:end]
        if end == len(objects) or not selected:
            return Page(selected, None, None)
        return Page(selected, keys[end - 1] + "\x00", len(objects) - end)
    selected = []
    for index in range(first, len(objects)):
        obj = objects[index]
        if matches(obj):
            selected.append(obj)
            if limit and len(selected) >= limit:
                if index < len(objects) - 1:
                    return Page(selected, keys[index] + "\x00", None)
                break
    return Page(selected, None, None)


def expired() -> errors.ApiError:
    return errors.ApiError(errors.expired(EXPIRED))


def expired_continue(start: str) -> dict[str, Any]:
    """The 410 body for a continue token whose state is compacted away: it carries a token
    that goes on from the same key at the most recent state."""
    body = errors.expired(INCONSISTENT_CONTINUE).body()
    body["metadata"] = {"continue": encode_continue(start, -1)}
    return body


def too_large(rv: int, current: int) -> errors.ApiError:
    """504: the store did not reach the resourceVersion asked for in time."""
    cause = StatusCause("ResourceVersionTooLarge", "Too large resource version")
    status = errors.Status(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {rv}, current: {current}",
        {"retryAfterSeconds": RETRY_AFTER_TOO_LARGE},
        (cause,),
    )
    return errors.ApiError(status)
