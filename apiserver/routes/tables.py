"""meta.k8s.io Tables for ``kubectl get [-w]``: which columns a kind has and how rows render.

A request asks for a Table in its Accept header; ``table_form`` fixes the Table version,
``includeObject`` and the kind's printer when the request arrives (a built-in kind's from
``printers``, as the real server prints it; a CRD's printer columns; Name and Age for the
rest), and ``TableForm`` renders lists, single objects and watch events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .. import errors, printers
from ..crds import AGE_COLUMN, NAME_COLUMN, PrinterColumn, cell, printer_columns
from ..printers import Printer
from ..resources import CRDS, ResourceType
from ..store import Store, meta
from ..watch import partial_metadata
from .responses import versioned

TABLE = "Table"
INCLUDE_OBJECT = ("None", "Metadata", "Object")


@dataclass(frozen=True)
class TableForm:
    """How a request asked for Tables: their meta.k8s.io version, ``includeObject`` and
    the kind's printer (fixed when the request arrives, also for a whole watch)."""

    version: str
    include: str
    printer: Printer
    resource_type: ResourceType

    def render(self, objects: list[dict[str, Any]], metadata: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC)
        return {
            "kind": TABLE,
            "apiVersion": f"meta.k8s.io/{self.version}",
            "metadata": metadata,
            "columnDefinitions": [c.definition() for c in self.printer.columns],
            "rows": [self._row(obj, now) for obj in objects],
        }

    def render_one(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as a one-row Table (a get, a watch event) at the object's resourceVersion."""
        return self.render([obj], {"resourceVersion": meta(obj).get("resourceVersion", "")})

    def _row(self, obj: dict[str, Any], now: datetime) -> dict[str, Any]:
        row: dict[str, Any] = {"cells": self.printer.cells(obj, now)}
        if self.printer.conditions is not None:
            conditions = self.printer.conditions(obj)
            if conditions:
                row["conditions"] = conditions
        if self.include == "Object":
            row["object"] = versioned(obj, self.resource_type)
        elif self.include == "Metadata":
            row["object"] = partial_metadata(obj, self.version)
        return row


def table_form(
    request: web.Request,
    table_version: str,
    resource_type: ResourceType,
    store: Store,
    printer: Printer | None = None,
) -> TableForm:
    """The request's Table form; ``printer`` overrides the kind's (a subresource's own)."""
    include = request.query.get("includeObject") or "Metadata"
    if include not in INCLUDE_OBJECT:
        raise errors.bad_request(f'invalid includeObject "{include}"')
    chosen = printer or _printer(resource_type, store)
    return TableForm(table_version, include, chosen, resource_type)


def _printer(resource_type: ResourceType, store: Store) -> Printer:
    """A built-in kind's printer; a custom kind's columns from its CRD; else Name and Age."""
    builtin = printers.BUILTIN.get((resource_type.group, resource_type.plural))
    if builtin is not None and not resource_type.is_custom:
        return builtin
    columns: tuple[PrinterColumn, ...] = (AGE_COLUMN,)
    crd = store.get(CRDS, "", str(resource_type.group_resource))
    if resource_type.is_custom and crd is not None:
        columns = printer_columns(crd.obj, resource_type.version)
    return _columns_printer((NAME_COLUMN, *columns))


def _columns_printer(columns: tuple[PrinterColumn, ...]) -> Printer:
    """Cells read by each column's JSONPath, as a CRD's printer columns are."""

    def cells(obj: dict[str, Any], now: datetime) -> list[Any]:
        return [cell(column, obj, now) for column in columns]

    return Printer(columns, cells)
