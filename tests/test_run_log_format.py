"""`make run` (scripts/run_platform.sh) logs readable lines on a terminal and JSON anywhere else.

The script runs for real in a folder of its own, its output on a pseudo-terminal or on a pipe, with stand-ins for
the virtualenv's `python` and `celery` that record the LOG_FORMAT they were started with. A real Django process
then shows what each format looks like.
"""

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.run_platform_checkout import SCRIPT, stand_in_checkout

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

# Records the LOG_FORMAT of each start; the web front's stand-in exits once all four platform processes have
# started (the script then stops the others), which the others wait for.
STAND_IN = """#!/bin/sh
case "$1" in -c|--version) exit 0 ;; esac
echo "{name}|${{LOG_FORMAT:-}}" >> "{record}"
case "$*" in
  *mediaplatform.serve*)
    while [ "$(grep -c . "{record}")" -lt 4 ]; do sleep 0.05; done
    exit 0 ;;
esac
exec sleep 600
"""


@pytest.fixture
def checkout():
    """A folder the platform's unprivileged user may enter (pytest's own are root's alone), with stand-ins."""
    folder = stand_in_checkout(prefix="mp-run-log-format-", stand_in=STAND_IN)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_platform(checkout: Path, *, on_terminal: bool, **extra_env: str) -> set[str]:
    """Run the script with its output on a terminal or a pipe; the LOG_FORMATs its processes were started with."""
    env = {
        "PATH": os.environ["PATH"],
        "VENV": str(checkout / "venv"),
        "PLATFORM_USER": "nobody",  # started by root, the script drops to this existing user: it makes no new one
        "MEDIA_ROOT": str(checkout / "var" / "media"),
        "YOLO_CONFIG_DIR": str(checkout / "var" / "ultralytics"),
        "FIRST_MODEL": "none",  # the first start's model download has its own test (tests/test_run_first_model.py)
        **extra_env,
    }
    if on_terminal:
        controller, terminal = pty.openpty()
        try:
            subprocess.run(
                ["bash", str(SCRIPT)], cwd=checkout, env=env, stdin=subprocess.DEVNULL, stdout=terminal,
                stderr=subprocess.PIPE, timeout=120, check=True,
            )  # fmt: skip
        finally:
            os.close(terminal)
            os.close(controller)
    else:
        subprocess.run(["bash", str(SCRIPT)], cwd=checkout, env=env, capture_output=True, timeout=120, check=True)
    lines = (checkout / "record" / "starts.txt").read_text().splitlines()
    assert len(lines) == 4, "the web front, two workers and beat"
    return {line.split("|")[1] for line in lines}


def test_on_a_terminal_the_platform_logs_plain_lines(checkout):
    assert run_platform(checkout, on_terminal=True) == {"plain"}


def test_on_a_pipe_the_platform_logs_json(checkout):
    assert run_platform(checkout, on_terminal=False) == {""}, "unset: the settings' default, JSON"


@pytest.mark.parametrize(("on_terminal", "explicit"), [(True, "json"), (False, "plain")])
def test_an_explicit_log_format_wins(checkout, on_terminal, explicit):
    assert run_platform(checkout, on_terminal=on_terminal, LOG_FORMAT=explicit) == {explicit}


@pytest.mark.parametrize("log_format", ["plain", None])
def test_what_a_django_process_writes_in_each_format(log_format):
    env = {key: value for key, value in os.environ.items() if key != "LOG_FORMAT"}
    env["DJANGO_SETTINGS_MODULE"] = "mediaplatform.settings"
    if log_format:
        env["LOG_FORMAT"] = log_format
    program = "import django, logging; django.setup(); logging.getLogger('videos').warning('upload %s kept', 'v1')"
    completed = subprocess.run(
        [sys.executable, "-c", program], cwd=REPOSITORY_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    line = completed.stderr.strip().splitlines()[-1]
    if log_format == "plain":
        assert " WARNING videos [" in line and line.endswith("] upload v1 kept"), line
    else:
        entry = json.loads(line)
        assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "videos", "upload v1 kept")
