"""Benchmark results: the printed table (figure, value, budget, baseline, verdict) and the
JSON files under ``var/bench/results``."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "var" / "bench" / "results"


@dataclass(frozen=True)
class Figure:
    """One measured figure. ``passed`` is None for figures that have no budget of their own."""

    name: str
    value: str
    budget: str
    baseline: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "-"}[self.passed]


def format_table(title: str, figures: list[Figure]) -> str:
    header = ("figure", "value", "budget", "baseline (same run)", "verdict")
    rows = [header] + [(f.name, f.value, f.budget, f.baseline, f.verdict) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [title, ""]
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def write_results(name: str, payload: dict[str, Any], figures: list[Figure]) -> Path:
    """Write ``var/bench/results/<name>.json`` with the figures, ``payload`` and the host."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {
        "benchmark": name,
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "system": platform.platform(),
        },
        "figures": [asdict(figure) | {"verdict": figure.verdict} for figure in figures],
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def finish(name: str, payload: dict[str, Any], figures: list[Figure]) -> int:
    """Write ``var/bench/results/<name>.json``, say where, and give the exit status: 0
    when no figure failed its budget, else 1."""
    path = write_results(name, payload, figures)
    print(f"\nresults: {path.relative_to(REPO_ROOT)}")
    return 0 if all(f.passed is not False for f in figures) else 1
