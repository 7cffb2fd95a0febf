"""deploy/prometheus/alerts.yml: valid for promtool, its unit tests pass, and its thresholds are the settings'."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from django.conf import settings

RULES_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
# Each check's metric expression in the rules, and the settings holding its warning and critical thresholds.
CHECKS = {
    "failed_rate": ("mediaplatform_processing_failed_ratio", "ALERT_FAILED_RATE"),
    "error_rate": ("mediaplatform_processing_error_ratio", "ALERT_ERROR_RATE"),
    "queue_backlog": ("sum(mediaplatform_queue_depth)", "ALERT_QUEUE_BACKLOG"),
    "queue_age": ("mediaplatform_queue_oldest_age_seconds", "ALERT_QUEUE_AGE"),
    "processing_time": ("mediaplatform_processing_time_seconds", "ALERT_PROCESSING_TIME"),
}


def promtool(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.fail("promtool is missing: `scripts/ensure_prerequisites.sh test` installs the prometheus package")
    return subprocess.run(["promtool", *args], cwd=RULES_DIR, capture_output=True, text=True, timeout=120)


def test_promtool_checks_the_rules():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_promtool_runs_the_rules_unit_tests():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_each_rule_uses_the_settings_thresholds(check):
    metric, prefix = CHECKS[check]
    rules = [
        rule
        for group in yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
        if rule["labels"]["check"] == check
    ]
    thresholds = {}
    for rule in rules:
        match = re.fullmatch(rf"{re.escape(metric)} > ([0-9.]+)", rule["expr"])
        assert match, rule["expr"]
        thresholds[rule["labels"]["severity"]] = float(match.group(1))
    suffix = "_SECONDS" if check in ("queue_age", "processing_time") else ""
    assert thresholds == {
        "warning": getattr(settings, f"{prefix}_WARNING{suffix}"),
        "critical": getattr(settings, f"{prefix}_CRITICAL{suffix}"),
    }
