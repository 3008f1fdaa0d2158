"""The Grafana dashboard as the tests read it: its panels' PromQL targets, made
instant queries the way Grafana would run them over a recent range."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent.parent
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "atelier.json"

# What Grafana puts in for its range variables. Long enough that the tasks a test ran
# are still inside the window however slowly the machine got to the query.
WINDOW = "10m"
VARIABLES = ("$__rate_interval", "$__interval", "$__range")
_NAME = re.compile(r"\b((?:atelier|dramatiq)_[a-z0-9_]+)\b")
_RANGE = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class Target:
    panel: str
    ref: str
    expr: str
    datasource: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.panel!r} {self.ref}"

    @property
    def instant(self) -> str:
        """The expression with Grafana's variables replaced, as Prometheus takes it."""
        expr = self.expr
        for variable in VARIABLES:
            expr = expr.replace(variable, WINDOW)
        return expr

    @property
    def metrics(self) -> set[str]:
        """The series names it reads (`_total`, `_bucket`, ... included)."""
        return set(_NAME.findall(self.expr))

    @property
    def ranges(self) -> list[str]:
        """What each range selector spans, e.g. `$__rate_interval`."""
        return _RANGE.findall(self.expr)


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    """Every panel that shows data (rows only group them)."""
    found: list[dict[str, Any]] = []
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def targets() -> list[Target]:
    return [
        Target(panel["title"], target["refId"], target["expr"], target["datasource"])
        for panel in panels()
        for target in panel["targets"]
    ]
