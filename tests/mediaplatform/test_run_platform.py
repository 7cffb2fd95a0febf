"""`make run` (scripts/run_platform.sh) started by root: the platform's processes run unprivileged, logs stay private.

The script runs for real, in a folder of its own, with stand-ins for the virtualenv's `python` and `celery` that
record who they ran as and exit; nothing of the checkout's var/ or media folder is touched.
"""

import os
import pwd
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.run_platform_checkout import SCRIPT, stand_in_checkout

PLATFORM_USER = "nobody"


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not _user_exists(PLATFORM_USER),
    reason=f"needs root, setpriv and a {PLATFORM_USER!r} user",
)

# Records one line per start: name, uid, umask, HOME and the arguments, separated by "|". The web front's stand-in
# exits once all four platform processes have started (the script then stops the rest); the others wait to be
# stopped. A refusal of the unprivileged user's start-up check (`-c`) can be asked for, as on a machine where
# that user may not run the interpreter.
STAND_IN = """#!/bin/sh
if [ "$1" = "-c" ] || [ "$1" = "--version" ]; then
  if [ -n "${{REFUSE_UNPRIVILEGED:-}}" ] && [ "$(id -u)" != 0 ]; then
    echo "PermissionError: [Errno 13] Permission denied: 'python'" >&2
    exit 1
  fi
  exit 0
fi
echo "{name}|$(id -u)|$(umask)|$HOME|$*" >> "{record}"
case "$*" in
  *mediaplatform.serve*)
    while [ "$(grep -c . "{record}")" -lt 4 ]; do sleep 0.05; done
    exit 0 ;;
esac
exec sleep 600
"""


@pytest.fixture
def checkout():
    """A folder the unprivileged user may enter (pytest's own are root's alone), with stand-in executables."""
    folder = stand_in_checkout(prefix="mp-run-platform-", stand_in=STAND_IN)
    (folder / "var" / "log").mkdir(parents=True)
    (folder / "var" / "log" / "access.log").write_text("GET /ws/videos/?token=secret\n")
    (folder / "var" / "log" / "access.log").chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def run_platform(checkout: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "VENV": str(checkout / "venv"),
        "PLATFORM_USER": PLATFORM_USER,
        "MEDIA_ROOT": str(checkout / "var" / "media"),
        "YOLO_CONFIG_DIR": str(checkout / "var" / "ultralytics"),
        "FIRST_MODEL": "none",  # the first start's model download has its own test (tests/test_run_first_model.py)
        **extra_env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], cwd=checkout, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def platform_starts(checkout: Path) -> list[dict]:
    starts = []
    for line in (checkout / "record" / "starts.txt").read_text().splitlines():
        name, uid, umask, home, arguments = line.split("|")
        starts.append({"name": name, "uid": int(uid), "umask": umask, "home": home, "arguments": arguments})
    return starts


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_started_by_root_the_platform_runs_as_an_unprivileged_user_that_owns_var(checkout):
    completed = run_platform(checkout)

    assert f"as the unprivileged user {PLATFORM_USER}" in completed.stdout, completed.stdout + completed.stderr
    starts = platform_starts(checkout)
    assert sorted(start["arguments"].split()[1] for start in starts) == [
        "mediaplatform",
        "mediaplatform",
        "mediaplatform",
        "mediaplatform.serve",
    ], "the web front, two workers and beat"
    nobody = pwd.getpwnam(PLATFORM_USER)
    assert {start["uid"] for start in starts} == {nobody.pw_uid}
    assert {start["umask"] for start in starts} == {"0027"}, "what the platform writes is not world-readable"
    assert {start["home"] for start in starts} == {str(checkout / "var" / "home")}
    for folder in ("var", "var/media", "var/log", "var/ultralytics"):
        assert (checkout / folder).stat().st_uid == nobody.pw_uid, folder
    assert mode(checkout / "var" / "log") == 0o750
    assert mode(checkout / "var" / "log" / "access.log") == 0o640


def test_where_that_user_cannot_run_the_interpreter_the_platform_stays_root_and_says_so(checkout):
    completed = run_platform(checkout, REFUSE_UNPRIVILEGED="1")

    assert "WARNING: running the platform's processes as root" in completed.stderr
    assert "Permission denied" in completed.stderr, "the reason is given"
    starts = platform_starts(checkout)
    assert len(starts) == 4 and {start["uid"] for start in starts} == {0}
    assert mode(checkout / "var" / "log" / "access.log") == 0o640
