"""HTTP handlers: discovery, OpenAPI and the resource verbs, answering errors with ``Status``.

Handlers decode and check the request, run the patch algorithms, admit the new
object (names, namespaces, kind-specific defaults, CRD schemas) and hand it to
the store. Responses are always JSON, serialised once. A get, list or watch whose
Accept header asks for a meta.k8s.io Table (as ``kubectl get [-w]`` does) gets one
(one per watch event), with the kind's printer columns; a get, list or watch asking
for PartialObjectMetadata(List) (as metadata-only informers do) gets the objects'
metadata alone.

``handlers`` is the route table, ``requests`` reads requests, ``admission`` checks and
completes objects, ``tables`` renders Tables, ``scale`` serves the scale subresource and
``responses`` builds the replies; ``authorization`` checks impersonated requests with RBAC
and answers self reviews.
"""

from .handlers import Handlers
from .requests import request_info
from .responses import status_response

__all__ = ["Handlers", "request_info", "status_response"]
