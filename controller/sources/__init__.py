"""Values from sources: ``spec.valuesFrom`` (and v1beta1's ``valueFileSecrets``) read and
merged under ``spec.values`` at each reconcile.

``ValuesResolver.compose(spec, chart_path)`` gives ``ComposedValues`` (the values, and a
note per optional source that was missing) or a ``SourceError`` (an expected failure,
returned: which source, why, whether a retry may help). Sources are ConfigMap and Secret
keys read through the API server, URLs fetched with aiohttp (revalidated with ETag and
Last-Modified) and files of the packaged chart. Neither values nor a source's content are
ever logged, shown in a message or in a repr: a source may hold secrets.
"""

from controller.sources.errors import Reason, SourceError
from controller.sources.resolver import ComposedValues, ValuesResolver

__all__ = ["ComposedValues", "Reason", "SourceError", "ValuesResolver"]
