"""scripts/ensure_prerequisites.sh, which `make run`, `make test` and `.ci/run` use: on a machine lacking system
packages it installs them with apt-get when root, and otherwise prints the command and stops.

The script runs for real against a folder of stand-in commands (PREREQUISITES_PATH), so a package can be made
to look missing; a stand-in apt-get records what it was asked to do instead of installing anything.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure_prerequisites.sh"
EVERY_COMMAND = (
    "make",
    "python3",
    "psql",
    "pg_isready",
    "postgres",
    "redis-cli",
    "redis-server",
    "nginx",
    "chromium",
    "promtool",
)
RECORDING_APT_GET = '#!/bin/sh\necho "$DEBIAN_FRONTEND $*" >> "{record}"\n'


@pytest.fixture
def machine():
    """Stand-ins for the commands found (the test removes some) and an apt-get that only records its calls, in a
    folder another user may enter (pytest's own are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="mp-prerequisites-"))
    folder.chmod(0o755)
    found = folder / "found"
    found.mkdir()
    for name in EVERY_COMMAND:
        (found / name).write_text("#!/bin/sh\nexit 0\n")
        (found / name).chmod(0o755)
    tools = folder / "tools"
    tools.mkdir()
    record = folder / "apt-get.calls"
    (tools / "apt-get").write_text(RECORDING_APT_GET.format(record=record))
    (tools / "apt-get").chmod(0o755)
    yield found, tools, record
    shutil.rmtree(folder, ignore_errors=True)


def ensure(machine, purpose: str, *, missing=(), as_user=None, **extra_env) -> subprocess.CompletedProcess:
    found, tools, _ = machine
    for name in missing:
        (found / name).unlink()
    env = {
        "PATH": f"{tools}:{os.environ['PATH']}",
        "PREREQUISITES_PATH": str(found),
        "DATABASE_HOST": "127.0.0.1",
        "REDIS_URL": "redis://127.0.0.1:6379",
        **extra_env,
    }
    command = [str(SCRIPT), purpose]
    if as_user is not None:
        command = ["setpriv", f"--reuid={as_user}", f"--regid={as_user}", "--clear-groups", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def apt_calls(machine) -> list[str]:
    record = machine[2]
    return record.read_text().splitlines() if record.exists() else []


@pytest.mark.parametrize("purpose", ["run", "test"])
def test_nothing_is_installed_when_every_package_is_there(machine, purpose):
    result = ensure(machine, purpose)
    assert result.returncode == 0, result.stderr
    assert apt_calls(machine) == []


@pytest.mark.parametrize(
    ("purpose", "missing", "packages"),
    [
        ("run", ["nginx"], "nginx"),
        ("run", ["chromium"], None),  # only the browser tests need it
        ("test", ["chromium"], "chromium"),
        ("test", ["pg_isready", "psql", "postgres"], "postgresql-client postgresql"),
        ("test", ["redis-server", "redis-cli", "nginx", "chromium"], "redis-tools redis-server nginx chromium"),
        ("test", ["make"], "make"),
        ("run", ["python3"], "python3-venv"),
    ],
)
def test_root_installs_what_is_missing_with_apt_get(machine, purpose, missing, packages):
    if os.geteuid() != 0:
        pytest.skip("installing is what root does")
    result = ensure(machine, purpose, missing=missing)
    assert result.returncode == 0, result.stderr
    if packages is None:
        assert apt_calls(machine) == []
    else:
        assert apt_calls(machine) == ["noninteractive update -qq", f"noninteractive install -y -qq {packages}"]


def test_a_remote_database_and_redis_need_only_their_clients(machine):
    if os.geteuid() != 0:
        pytest.skip("installing is what root does")
    result = ensure(
        machine,
        "run",
        missing=["postgres", "redis-server"],
        DATABASE_HOST="db.internal",
        REDIS_URL="redis://cache.internal:6379",
    )
    assert result.returncode == 0, result.stderr
    assert apt_calls(machine) == []


def test_without_root_it_prints_the_command_and_stops(machine):
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("needs setpriv to run as another user")
        as_user = 65534  # nobody
    else:
        as_user = None
    result = ensure(machine, "test", missing=["nginx", "chromium"], as_user=as_user)
    assert result.returncode != 0
    assert "sudo apt-get update && sudo apt-get install -y nginx chromium" in result.stderr
    assert apt_calls(machine) == []


def test_an_unknown_purpose_is_refused(machine):
    result = ensure(machine, "deploy")
    assert result.returncode == 2
    assert "usage" in result.stderr
