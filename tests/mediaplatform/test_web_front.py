"""The web front (mediaplatform.serve): nginx on one port, HTTP to gunicorn, websockets to Daphne, as one unit."""

import grp
import json
import signal
import stat
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import requests
from websockets.sync.client import connect

from audit.models import AuditLogEntry
from mediaplatform import serve
from tests import live
from tests.factories import TokenFactory
from tests.notifications.helpers import token_protocols

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]


def test_http_and_websockets_share_the_one_port(live_server_process):
    token = TokenFactory()

    response = requests.get(
        f"http://{live_server_process}/api/v1/videos/", headers={"Authorization": f"Token {token.key}"}, timeout=30
    )
    with connect(
        f"ws://{live_server_process}/ws/videos/", open_timeout=30, subprotocols=token_protocols(token)
    ) as socket:
        first = json.loads(socket.recv(timeout=30))

    assert response.status_code == 200, response.text
    assert response.headers["Server"] == "nginx"
    assert first["event_type"] == "subscribed"


def test_the_recorded_address_is_the_peer_not_one_the_client_claims(live_server_process):
    token = TokenFactory()

    response = requests.post(
        f"http://{live_server_process}/api/v1/api-keys/",
        json={"name": "spoof check"},
        headers={
            "Authorization": f"Token {token.key}",
            "X-Real-IP": "203.0.113.7",
            "X-Forwarded-For": "203.0.113.8",
            "X-Request-ID": "front-address-0001",
        },
        timeout=30,
    )

    assert response.status_code == 201, response.text
    row = AuditLogEntry.objects.get(request_id="front-address-0001", action="api_key.create")
    assert row.ip_address == "127.0.0.1"


def _children(process: psutil.Process) -> list[psutil.Process]:
    return process.children(recursive=True)


def _wait_gone(processes: list[psutil.Process], timeout: float = 30) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


def _named(processes: list[psutil.Process], word: str) -> list[psutil.Process]:
    return [p for p in processes if word in " ".join(p.cmdline())]


def test_a_server_that_dies_takes_the_front_down_with_nothing_left_behind():
    web, _ = live.start_web("web-front-dies")
    try:
        supervisor = psutil.Process(web.process.pid)
        children = _children(supervisor)
        for server in ("gunicorn", "daphne", "nginx"):
            assert _named(children, server), f"{server} is not running"
        gunicorn_master = next(p for p in _named(children, "gunicorn") if p.ppid() == supervisor.pid)

        gunicorn_master.send_signal(signal.SIGKILL)

        assert web.process.wait(timeout=30) != 0
        assert _wait_gone(children) == [], "a server outlived the front"
    finally:
        web.stop()


def test_a_killed_supervisor_leaves_no_orphan():
    web, port = live.start_web("web-front-killed")
    try:
        children = _children(psutil.Process(web.process.pid))

        web.kill()

        assert _wait_gone(children) == [], "a server outlived its SIGKILLed supervisor"
    finally:
        web.stop()


@pytest.fixture
def nginx_alone(tmp_path):
    """The front's nginx with nothing behind it, accepting bodies of up to 1 MiB."""
    run_dir = Path(tmp_path)
    port = live.free_port()
    (run_dir / "nginx.conf").write_text(
        serve.render_nginx_config(
            run_dir=run_dir,
            listen=f"127.0.0.1:{port}",
            max_body_bytes=1024**2,
            access_log=None,
            http_sockets=serve.http_socket_paths(run_dir, 2),
        )
    )
    process = subprocess.Popen(
        [serve.nginx_binary(), "-e", "stderr", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf")],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=5)
            break
        except requests.ConnectionError:
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_an_application_server_that_is_down_gets_a_json_503_with_retry_after(nginx_alone):
    response = requests.get(f"http://{nginx_alone}/api/v1/videos/", timeout=30)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"


def test_a_body_far_over_the_limit_gets_a_json_413_before_django(nginx_alone):
    response = requests.post(f"http://{nginx_alone}/api/v1/videos/", data=b"x" * (2 * 1024**2), timeout=30)

    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "payload_too_large",
        "message": f"The request body is larger than this server accepts ({1024**2} bytes).",
        "details": {"max_bytes": 1024**2},
    }


def test_nginx_started_by_root_drops_its_workers_to_an_unprivileged_user(tmp_path):
    worker_user = serve.nginx_worker_user(effective_uid=0)
    rendered = {
        user: serve.render_nginx_config(
            run_dir=tmp_path,
            listen="127.0.0.1:1",
            max_body_bytes=1,
            access_log=None,
            http_sockets=[tmp_path / "h.sock"],
            worker_user=user,
        )
        for user in (worker_user, None)
    }

    assert worker_user.pw_uid != 0 and worker_user.pw_name in serve.NGINX_WORKER_USERS
    assert "@@" not in rendered[worker_user]
    user_lines = [line for line in rendered[worker_user].splitlines() if line.startswith("user ")]
    assert user_lines == [f"user {worker_user.pw_name} {grp.getgrgid(worker_user.pw_gid).gr_name};"]
    assert not any(line.startswith("user ") for line in rendered[None].splitlines())
    assert serve.nginx_worker_user(effective_uid=1000) is None, "a master that is not root cannot switch users"


def test_an_existing_world_readable_access_log_is_closed_to_other_users(tmp_path):
    access_log = tmp_path / "access.log"
    access_log.write_text("GET /ws/videos/?token=secret\n")
    access_log.chmod(0o644)

    serve.prepare_access_log(access_log)

    assert stat.S_IMODE(access_log.stat().st_mode) == serve.LOG_FILE_MODE
    assert access_log.read_text() == "GET /ws/videos/?token=secret\n", "nothing already logged is lost"


def test_nginx_workers_never_run_as_root_and_its_access_log_is_not_world_readable(tmp_path):
    access_log = tmp_path / "log" / "access.log"
    web, port = live.start_web("web-front-privileges", extra_env={"WEB_ACCESS_LOG": str(access_log)})
    try:
        token = TokenFactory()
        supervisor = psutil.Process(web.process.pid)
        nginx_master = next(p for p in _named(_children(supervisor), "nginx") if p.ppid() == supervisor.pid)
        nginx_workers = nginx_master.children()

        # Answered by Django, so the unprivileged workers reach the application servers' sockets.
        response = requests.get(
            f"http://127.0.0.1:{port}/api/v1/videos/", headers={"Authorization": f"Token {token.key}"}, timeout=30
        )

        assert response.status_code == 200, response.text
        assert nginx_workers and all(worker.uids().effective != 0 for worker in nginx_workers)
        if supervisor.uids().effective == 0:
            expected = serve.nginx_worker_user(effective_uid=0).pw_uid
            assert {worker.uids().real for worker in nginx_workers} == {expected}
        assert stat.S_IMODE(access_log.stat().st_mode) == serve.LOG_FILE_MODE
        assert stat.S_IMODE(access_log.parent.stat().st_mode) == serve.LOG_DIR_MODE
    finally:
        web.stop()
