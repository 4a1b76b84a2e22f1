"""`make lint`: the Grafana dashboard and the Prometheus rules of manifests/monitoring/.

- Every dashboard (*.json) parses, is an object with a `title` and `panels`, and each panel
  (rows' nested panels included) other than a row has a `type`, a `title` and `targets`,
  each with a PromQL `expr`.
- With promtool (Debian package prometheus): the rule groups of every PrometheusRule
  (*.yaml) pass `promtool check rules`: known fields only, durations, label and annotation
  templates, PromQL, no duplicate rules. Every expression of the dashboards (targets, and
  the query of `label_values(...)` / `query_result(...)` variables) is parsed by promtool
  too, each wrapped as a recording rule in a generated rules file, with Grafana's interval
  variables ($__rate_interval, $__interval, $__range) replaced by a duration.
  Without promtool the PromQL is not checked and the output says so (exit 0).

Exits 1 when anything is wrong, naming the file, the panel or rule group, and the problem.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_RULE = ("monitoring.coreos.com/v1", "PrometheusRule")
# Grafana's built-in interval variables, which are no PromQL: replaced by values of their type.
GRAFANA_VARIABLES = {
    "__rate_interval": "5m",
    "__interval": "1m",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "60000",
}
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
QUERY_FUNCTION = re.compile(r"^\s*(label_values|query_result)\((.*)\)\s*$", re.DOTALL)

Doc = dict[str, Any]


def without_grafana_variables(expr: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return GRAFANA_VARIABLES.get(name, match.group(0))

    return VARIABLE.sub(replace, expr)


def panels(container: Doc) -> Iterator[Any]:
    """Every panel of a dashboard, the panels of (collapsed) rows included."""
    for panel in container.get("panels") or ():
        yield panel
        if isinstance(panel, dict) and panel.get("type") == "row":
            yield from panels(panel)


def variable_expressions(dashboard: Doc) -> Iterator[tuple[str, str]]:
    """(variable name, PromQL) of the query variables whose query holds an expression."""
    for variable in (dashboard.get("templating") or {}).get("list") or ():
        if not isinstance(variable, dict) or variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        match = QUERY_FUNCTION.match(str(text or ""))
        if not match:
            continue
        function, inner = match.groups()
        if function == "label_values":  # label_values(expr, label) or label_values(label)
            head, _, _ = inner.rpartition(",")
            if not head:
                continue
            inner = head
        yield str(variable.get("name")), inner.strip()


def check_dashboard(path: Path, errors: list[str]) -> list[Doc]:
    """Structure problems into `errors`; the generated rule groups of its expressions."""
    try:
        dashboard = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        errors.append(f"{path}: not valid JSON: {error}")
        return []
    if not isinstance(dashboard, dict):
        errors.append(f"{path}: a dashboard is a JSON object")
        return []
    if not isinstance(dashboard.get("title"), str) or not dashboard["title"].strip():
        errors.append(f"{path}: no dashboard title")
    if not isinstance(dashboard.get("panels"), list) or not dashboard["panels"]:
        errors.append(f"{path}: no panels")
        return []
    groups = []
    for index, panel in enumerate(panels(dashboard)):
        where = f"{path}: panel {index}"
        if not isinstance(panel, dict):
            errors.append(f"{where}: not an object")
            continue
        title = panel.get("title")
        if not isinstance(title, str) or not title.strip():
            errors.append(f"{where}: no title")
        where = f"{where} ({title!r})"
        if not isinstance(panel.get("type"), str):
            errors.append(f"{where}: no type")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets")
        if not isinstance(targets, list) or not targets:
            errors.append(f"{where}: no targets")
            continue
        rules = []
        for number, target in enumerate(targets):
            expr = target.get("expr") if isinstance(target, dict) else None
            if not isinstance(expr, str) or not expr.strip():
                errors.append(f"{where}: target {number} has no PromQL expr")
                continue
            rules.append(
                {
                    "record": f"dashboard_panel_{index}_target_{number}",
                    "expr": without_grafana_variables(expr),
                }
            )
        if rules:
            groups.append({"name": f"{path.name} panel {index} {title!r}", "rules": rules})
    variables = [
        {"record": f"dashboard_variable_{name}", "expr": without_grafana_variables(expr)}
        for name, expr in variable_expressions(dashboard)
    ]
    if variables:
        groups.append({"name": f"{path.name} template variables", "rules": variables})
    return groups


def rule_groups(path: Path, errors: list[str]) -> list[tuple[str, list[Any]]]:
    """(PrometheusRule name, its spec.groups) of every PrometheusRule in a YAML file."""
    found = []
    try:
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except yaml.YAMLError as error:
        errors.append(f"{path}: not valid YAML: {error}")
        return []
    for doc in docs:
        if not isinstance(doc, dict) or (doc.get("apiVersion"), doc.get("kind")) != PROMETHEUS_RULE:
            continue
        name = str((doc.get("metadata") or {}).get("name"))
        groups = (doc.get("spec") or {}).get("groups")
        if not isinstance(groups, list) or not groups:
            errors.append(f"{path}: PrometheusRule {name}: no spec.groups")
            continue
        found.append((name, groups))
    return found


def promtool_check(promtool: str, scratch: Path, errors: list[str]) -> None:
    """`promtool check rules` on the generated files, its messages naming their sources."""
    done = subprocess.run(
        [
            promtool,
            *("check", "rules", "--lint=duplicate-rules", "--lint-fatal"),
            *sorted(file.name for file in scratch.iterdir()),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=scratch,
    )
    if done.returncode != 0:
        output = "\n".join(part.strip() for part in (done.stdout, done.stderr) if part.strip())
        errors.append(f"promtool check rules failed:\n{output}")


def default_promtool() -> str | None:
    return os.environ.get("PROMTOOL") or shutil.which("promtool")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--monitoring", type=Path, default=ROOT / "manifests" / "monitoring")
    parser.add_argument("--promtool", default=default_promtool())
    args = parser.parse_args(argv)
    errors: list[str] = []
    dashboards = sorted(args.monitoring.glob("*.json"))
    rule_files = sorted(args.monitoring.glob("*.yaml"))
    if not dashboards:
        errors.append(f"{args.monitoring}: no dashboard (*.json)")
    expressions = {path: check_dashboard(path, errors) for path in dashboards}
    rules = {path: rule_groups(path, errors) for path in rule_files}
    if not any(rules.values()):
        errors.append(f"{args.monitoring}: no PrometheusRule")
    promtool = args.promtool if args.promtool and Path(args.promtool).is_file() else None
    if promtool is None:
        print(
            "check-monitoring: PromQL and rule groups NOT checked: promtool is not installed"
            " (Debian package prometheus; make lint installs it where it runs as root with"
            " apt-get)"
        )
    else:
        # One rules file per PrometheusRule and per dashboard, named after its source.
        with tempfile.TemporaryDirectory(prefix="check-monitoring-") as directory:
            scratch = Path(directory)
            for path, found in rules.items():
                for name, groups in found:
                    file = scratch / f"{path.name}:PrometheusRule:{name}"
                    file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
            for path, groups in expressions.items():
                if groups:
                    file = scratch / f"{path.name}:expressions-as-recording-rules"
                    file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
            if any(scratch.iterdir()):
                promtool_check(promtool, scratch, errors)
    if errors:
        for line in errors:
            print(f"check-monitoring: {line}", file=sys.stderr)
        return 1
    checked = "structure" + (" and PromQL (promtool)" if promtool else "")
    rule_count = sum(len(found) for found in rules.values())
    print(
        f"check-monitoring: {len(dashboards)} dashboards and {rule_count} PrometheusRules valid"
        f" ({checked})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
