"""Schemas: a CRD's OpenAPI v3 structural schemas, and the built-in kinds' Kubernetes schemas.

The server admits a custom resource in the real server's order: `prune` drops fields the schema
does not know, `apply_defaults` fills in defaults, `validate` reports what is still wrong.
Error texts follow the real server (kube-openapi messages wrapped in field errors), so kubectl
prints the same lines. `structural_errors` rejects CRD schemas the real server would not accept.
A built-in object is decoded instead, as the real server decodes it into Go structs: `decode`
reports wrong types in the words of the decoder a request reaches, and unknown and missing
fields, against the kind's schema from `builtin_schema`; `prune` drops its unknown fields.
Everything here is pure: plain JSON values in, new values or error lists out. Each step has its
module (``prune``, ``defaults``, ``validate``, ``structural``, ``builtin``, ``decoding``);
``errors`` words the field errors and ``common`` holds the keywords and path helpers they share.
"""

from .builtin import KUBERNETES_SCHEMAS, builtin_schema
from .common import Schema
from .decoding import Dialect, decode
from .defaults import apply_defaults
from .errors import FieldError, go_print, go_quote, invalid_message
from .prune import prune
from .structural import structural_errors
from .validate import validate

__all__ = [
    "KUBERNETES_SCHEMAS",
    "Dialect",
    "FieldError",
    "Schema",
    "apply_defaults",
    "builtin_schema",
    "decode",
    "go_print",
    "go_quote",
    "invalid_message",
    "prune",
    "structural_errors",
    "validate",
]
