"""meta.k8s.io Tables for ``kubectl get [-w]``: which columns a kind has and how rows render.

A request asks for a Table in its Accept header; ``table_form`` fixes the Table version,
``includeObject`` and the kind's columns (a CRD's printer columns, Age for built-in kinds)
when the request arrives, and ``TableForm`` renders lists, single objects and watch events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .. import errors
from ..crds import AGE_COLUMN, NAME_COLUMN, PrinterColumn, cell, printer_columns
from ..resources import CRDS, ResourceType
from ..store import Store, meta
from ..watch import partial_metadata
from .responses import versioned

TABLE = "Table"
INCLUDE_OBJECT = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class TableForm:
    """How a request asked for Tables: their meta.k8s.io version, ``includeObject`` and
    the kind's columns (fixed when the request arrives, also for a whole watch)."""

    version: str
    include: str
    columns: tuple[PrinterColumn, ...]
    resource_type: ResourceType

    def render(self, objects: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "kind": TABLE,
            "apiVersion": f"meta.k8s.io/{self.version}",
            "metadata": metadata,
            "columnDefinitions": [c.definition() for c in self.columns],
            "rows": [self._row(obj, now) for obj in objects],
        }

    def render_one(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as a one-row Table (a get, a watch event) at the object's resourceVersion."""
        return self.render([obj], {"resourceVersion": meta(obj).get("resourceVersion", "")})

    def _row(self, obj: dict[str, Any], now: datetime) -> dict[str, Any]:
        row: dict[str, Any] = {"cells": [cell(c, obj, now) for c in self.columns]}
        if self.include == "Object":
            row["object"] = versioned(obj, self.resource_type)
        elif self.include == "Metadata":
            row["object"] = partial_metadata(obj, self.version)
        return row


def table_form(
    request: web.Request, table_version: str, resource_type: ResourceType, store: Store
) -> TableForm:
    include = request.query.get("includeObject") or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise errors.bad_request(f'invalid includeObject "{include}"')
    columns = (NAME_COLUMN, *_printer_columns(resource_type, store))
    return TableForm(table_version, include, columns, resource_type)


def _printer_columns(resource_type: ResourceType, store: Store) -> tuple[PrinterColumn, ...]:
    """A custom kind's columns from its CRD; Age for built-in kinds."""
    crd = store.get(CRDS, "", str(resource_type.group_resource))
    if not resource_type.is_custom or crd is None:
        return (AGE_COLUMN,)
    return printer_columns(crd.obj, resource_type.version)
