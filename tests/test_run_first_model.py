"""`make run` fetches a real model on its first start, in the background; offline it says once how to get one."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPOSITORY_ROOT / "scripts" / "run_platform.sh"

# The install's stand-in fails as an offline download does; the web front's stand-in exits once the four platform
# processes have started and the first start's install has finished (its marker exists), so nothing races.
STAND_IN = """#!/bin/sh
case "$1" in -c|--version) exit 0 ;; esac
case "$*" in
  *install_model*)
    echo "install|$*" >> "{installs}"
    echo "CommandError: The download failed: the connection failed (NewConnectionError), 3 times." >&2
    exit 1 ;;
esac
echo "{name}" >> "{record}"
case "$*" in
  *mediaplatform.serve*)
    installing() {{ [ -n "${{EXPECT_INSTALL:-}}" ] && [ ! -e var/first-model-install.done ]; }}
    while [ "$(grep -c . "{record}")" -lt 4 ] || installing; do sleep 0.05; done
    exit 0 ;;
esac
exec sleep 600
"""


@pytest.fixture
def checkout():
    folder = Path(tempfile.mkdtemp(prefix="mp-run-first-model-"))
    folder.chmod(0o755)
    record = folder / "record"
    record.mkdir(mode=0o777)
    record.chmod(0o777)
    bin_dir = folder / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for directory in (folder / "venv", bin_dir):
        directory.chmod(0o755)
    for name in ("python", "celery"):
        text = STAND_IN.format(name=name, record=record / "starts.txt", installs=record / "installs.txt")
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_platform(checkout: Path, **extra_env: str) -> str:
    (checkout / "record" / "starts.txt").unlink(missing_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "VENV": str(checkout / "venv"),
        "PLATFORM_USER": "nobody",
        "MEDIA_ROOT": str(checkout / "var" / "media"),
        "YOLO_CONFIG_DIR": str(checkout / "var" / "ultralytics"),
        **extra_env,
    }
    completed = subprocess.run(
        ["bash", str(SCRIPT)], cwd=checkout, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return completed.stdout


def test_offline_the_first_start_keeps_the_demo_model_and_says_so_once(checkout):
    first = run_platform(checkout, EXPECT_INSTALL="1")
    installs = (checkout / "record" / "installs.txt").read_text().splitlines()
    assert installs == ["install|manage.py install_model yolo11n --default"]
    assert first.count("Could not download yolo11n") == 1, first
    assert "demo model" in first and "manage.py install_model yolo11n --default" in first
    second = run_platform(checkout)
    assert "Could not download" not in second, "said once, on the first start"
    assert len((checkout / "record" / "installs.txt").read_text().splitlines()) == 1
