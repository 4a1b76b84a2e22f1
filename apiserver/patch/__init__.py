"""The patch algorithms of the in-memory API server, as pure functions on JSON-like dicts.

- ``apply_json_patch`` (``jsonpatch``): RFC 6902 (``application/json-patch+json``).
- ``apply_merge_patch`` (``merge``): RFC 7386 (``application/merge-patch+json``).
- ``apply_strategic_merge_patch`` (``strategic``): Kubernetes strategic merge patch for the
  built-in kinds charts use (``application/strategic-merge-patch+json``), with the list merge
  strategies of those kinds in ``strategies``.
- ``server_side_apply`` and ``record_update`` (``apply``): field ownership for
  ``application/apply-patch+yaml`` and for the other writes.

No function mutates its inputs: each copies the object once and works on the copy; values
taken from a patch are copied too, so the result shares nothing with the arguments.
``common`` holds what they share: the JSON types, PatchError and the copy and equality helpers.
"""

from .apply import ApplyConflict, FieldConflict, ManagedFields, record_update, server_side_apply
from .common import FieldPath, PatchError
from .jsonpatch import apply_json_patch
from .merge import apply_merge_patch
from .strategic import apply_strategic_merge_patch
from .strategies import supports_strategic_merge

__all__ = [
    "ApplyConflict",
    "FieldConflict",
    "FieldPath",
    "ManagedFields",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
    "record_update",
    "server_side_apply",
    "supports_strategic_merge",
]
