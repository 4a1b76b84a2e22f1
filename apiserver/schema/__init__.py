"""OpenAPI v3 structural schemas of apiextensions.k8s.io/v1 CRDs: prune, default, validate.

The server admits a custom resource in the real server's order: `prune` drops fields the schema
does not know, `apply_defaults` fills in defaults, `validate` reports what is still wrong.
Error texts follow the real server (kube-openapi messages wrapped in field errors), so kubectl
prints the same lines. `structural_errors` rejects CRD schemas the real server would not accept.
Everything here is pure: plain JSON values in, new values or error lists out. Each step has its
module (``prune``, ``defaults``, ``validate``, ``structural``); ``errors`` words the field
errors and ``common`` holds the keywords and path helpers they share.
"""

from .common import Schema
from .defaults import apply_defaults
from .errors import FieldError, invalid_message
from .prune import prune
from .structural import structural_errors
from .validate import validate

__all__ = [
    "FieldError",
    "Schema",
    "apply_defaults",
    "invalid_message",
    "prune",
    "structural_errors",
    "validate",
]
