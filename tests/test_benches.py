"""Every script in bench/ still runs: each in its smoke mode (tiny sizes), as a person would start it.

A benchmark nobody runs rots unseen (a name it imports moves, a setting changes). These tests assert that each
script completes and ends with its documented last line, `key=value` pairs with the keys it promises; never its
figures, which at smoke sizes mean nothing.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
BENCH = REPOSITORY_ROOT / "bench"
HELPERS = {"benchdb.py"}  # imported by the scripts, not one of them

# Script -> the keys its last line starts with, as its docstring documents them.
LAST_LINE_KEYS = {
    "accuracy.py": ["precision", "recall", "map50", "map50_95"],
    "annotated_video.py": ["render_fps", "baseline_fps", "ratio", "short_peak_mb", "long_peak_mb", "memory_ratio"],
    "api.py": ["videos", "clients", "workers", "server"],
    "detection_summary.py": ["summary_ms", "baseline_ms", "ratio", "boxes"],
    "detection_writes.py": ["ours_rows_per_s", "raw_copy_rows_per_s", "storage_ratio"],
    "events.py": ["layer", "winner"],
    "memory.py": ["long_peak_mb", "short_peak_mb", "memory_ratio"],
    "models.py": ["models", "fps"],
    "pipeline.py": ["pipeline_fps", "baseline_fps", "ratio", "backend"],
    "playback.py": ["ratio", "busy_threads"],
    "storage.py": ["processing_ratio", "upload_ratio"],
}


def bench_environment() -> dict[str, str]:
    """This run's settings (its Redis databases among them), less the names a benchmark picks for itself: each
    creates and drops a database of its own, and events.py also empties its own channel-layer prefix."""
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_NAME", "CHANNELS_PREFIX"}}
    env["LOG_LEVEL"] = "WARNING"
    return env


def test_every_bench_script_has_a_smoke_run():
    scripts = {path.name for path in BENCH.glob("*.py")} - HELPERS
    assert scripts == set(LAST_LINE_KEYS), "a new bench/ script needs --smoke and a row in LAST_LINE_KEYS"


@pytest.mark.parametrize("script", sorted(LAST_LINE_KEYS))
def test_the_bench_completes_and_prints_its_last_line(script):
    completed = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke"],
        cwd=REPOSITORY_ROOT,
        env=bench_environment(),
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard only: nothing here asserts how long a run takes
    )
    output = f"stdout:\n{completed.stdout[-4000:]}\nstderr:\n{completed.stderr[-4000:]}"
    assert completed.returncode == 0, output
    last_line = completed.stdout.strip().splitlines()[-1]
    pairs = [part.partition("=") for part in last_line.split()]
    assert all(separator == "=" and value for _, separator, value in pairs), output
    keys = [key for key, _, _ in pairs]
    assert keys[: len(LAST_LINE_KEYS[script])] == LAST_LINE_KEYS[script], output
