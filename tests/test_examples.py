"""examples/: the alert rules pass promtool (syntax and their unit tests), and every metric the
rules and the Grafana dashboard name is one `codexbar metrics` exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bars_helpers import run_codexbar, save_reading
from tests.dashboard_helpers import build_home
from tests.tray_helpers import reading as snapshot_at

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "examples" / "prometheus-alerts.yml"
DASHBOARD = ROOT / "examples" / "grafana-dashboard.json"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
needs_promtool = pytest.mark.skipif(
    not os.access(PROMTOOL, os.X_OK), reason="promtool is not installed (Debian: prometheus)"
)
METRIC = re.compile(r"\bcodexbar_[a-z_]+")


@needs_promtool
def test_alert_rules_pass_promtool_and_their_unit_tests():
    check = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run(
        [PROMTOOL, "test", "rules", "alert_rules_test.yml"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    )
    assert unit.returncode == 0, unit.stdout + unit.stderr


def _exported(tmp_path) -> set[str]:
    lived = build_home(tmp_path)
    save_reading(snapshot_at(18, 45, at=datetime.now(UTC)))
    result = run_codexbar("metrics", "--home", str(lived.home))
    assert result.returncode == 0, result.stderr
    return {line.split()[2] for line in result.stdout.splitlines() if line.startswith("# TYPE")}


def test_examples_name_only_exported_metrics(tmp_path):
    exported = _exported(tmp_path)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs.append(dashboard["templating"]["list"][0]["definition"])
    named = {name for expr in exprs for name in METRIC.findall(expr)}
    named |= set(METRIC.findall(RULES.read_text()))
    assert named, "the examples name no metric"
    assert named <= exported, f"not exported: {sorted(named - exported)}"
