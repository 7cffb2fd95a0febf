"""The web front: nginx on the public port, gunicorn for HTTP and Daphne for websockets, supervised as one.

    python -m mediaplatform.serve [--bind 127.0.0.1] [--port 8000] [--workers N] [--threads N]
                                  [--access-log PATH]

Why three servers: Django answers a request through its WSGI handler for about a third of the CPU its ASGI
handler takes (bench/api.py measures both), so plain HTTP goes to gunicorn's threads; only websockets need
ASGI, and Daphne serves those. nginx in front routes /ws/ to Daphne and everything else to gunicorn, and holds
the client connections, so a slow upload or download never occupies a Django thread. gunicorn and Daphne listen
on unix sockets in a private run directory that only nginx uses, which is why gunicorn may take the client's
address from nginx's X-Real-IP header (mediaplatform.wsgi).

Why one gunicorn per worker process, each on its own socket: the worker processes of one gunicorn share its
listening socket, and whichever is awake accepts; nginx keeps its upstream connections open, so one worker
ended up holding most of them and did 70-100 % of the work (one GIL, its threads queueing behind each other)
while the other idled. With a socket per worker, nginx balances requests itself (least_conn), and a worker that
is restarting is skipped: nginx tries the next socket.

nginx is ready last: once the public port accepts, the platform answers. If any of the three exits, the others
are stopped and this exits with its status; SIGTERM or SIGINT stops all three; and each child is told by the
kernel to stop if this supervisor dies (even by SIGKILL), so none outlives it.
"""

import argparse
import ctypes
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
CLIENT_ADDRESS_HEADER = "HTTP_X_REAL_IP"
# Multipart framing around the largest upload Django accepts; Django, not nginx, refuses the oversized ones.
BODY_SLACK_BYTES = 16 * 1024**2
_PR_SET_PDEATHSIG = 1
# Started by root, nginx's master drops its worker processes to the first of these that exists.
NGINX_WORKER_USERS = ("www-data", "nginx", "nobody")
# The access log names every request's URL: readable by its owner and group, never by every local user.
LOG_FILE_MODE = 0o640
LOG_DIR_MODE = 0o750
# nginx's internal location for stored media (nginx.conf.template); Django redirects into it (videos/views_media.py).
MEDIA_ACCEL_PREFIX = "/_protected_media/"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
    if not found:
        raise SystemExit("nginx is not installed (Debian/Ubuntu: sudo apt-get install nginx); `make test` installs it.")
    return found


def http_socket_paths(run_dir: Path, workers: int) -> list[Path]:
    return [run_dir / f"http-{number}.sock" for number in range(workers)]


def nginx_worker_user(*, effective_uid: int | None = None) -> pwd.struct_passwd | None:
    """The unprivileged account nginx's workers run as when its master is root; None when it is not root.

    A master that is not root cannot change its workers' user: they run as whoever started the front.
    """
    if (os.geteuid() if effective_uid is None else effective_uid) != 0:
        return None
    for name in NGINX_WORKER_USERS:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        if account.pw_uid != 0:
            return account
    raise SystemExit(
        f"Started as root, but none of the users {', '.join(NGINX_WORKER_USERS)} exists for nginx's worker "
        "processes, which never run as root: create one, or start the front as an unprivileged user."
    )


def nginx_worker_group(worker_user: pwd.struct_passwd | None, media_root: Path) -> int | None:
    """The group nginx's workers run with: the media folder's, so they read what the platform writes there.

    The platform writes with umask 027 (scripts/run_platform.sh): its files are readable by their group and no
    one else, and their group is the media folder's. A media folder of root's group is not given to the workers;
    they keep their own group and read only what every user may.
    """
    if worker_user is None:
        return None
    media_gid = media_root.stat().st_gid
    return media_gid if media_gid != 0 else worker_user.pw_gid


def media_readable_by_workers(
    media_root: Path, *, worker_user: pwd.struct_passwd | None, worker_gid: int | None, umask: int
) -> bool:
    """Whether nginx's workers can read the stored media, now and what is written with this umask later.

    When they cannot, Django streams the files itself (slower, but it works) and a warning says why.
    """
    if worker_user is None:
        return True  # the workers are the platform's own user
    mode = media_root.stat().st_mode
    if worker_gid == media_root.stat().st_gid and worker_gid != 0:
        return mode & 0o050 == 0o050 and umask & 0o040 == 0
    return mode & 0o005 == 0o005 and umask & 0o004 == 0


SIGNED_MEDIA_TYPES = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "jpg": "image/jpeg",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
    "mkv": "video/x-matroska",
    "m4v": "video/x-m4v",
}


def signed_media_location(media_root: Path, secret: str) -> str:
    """The location serving signed media URLs (videos/media_signing.py) from MEDIA_ROOT, ranges included.

    nginx checks the signature and the expiry itself, so a player's range requests never reach Django; without
    this location (nginx cannot read the media) they fall through to Django, which checks the same signature.
    """
    if not all(character.isalnum() for character in secret):
        raise SystemExit("MEDIA_SIGNING_SECRET must be letters and digits only (it is written into nginx's config).")
    types = " ".join(f"{content_type} {extension};" for extension, content_type in SIGNED_MEDIA_TYPES.items())
    return f"""        location /media/signed/ {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
            alias {media_root}/;
            types {{ {types} }}
            default_type application/octet-stream;
            add_header Cache-Control "private, max-age=1800" always;
            add_header X-Content-Type-Options nosniff always;
            sendfile on;
            tcp_nopush on;
            output_buffers 2 256k;
        }}
"""


def render_nginx_config(
    *,
    run_dir: Path,
    listen: str,
    max_body_bytes: int,
    access_log: str | None,
    http_sockets: list[Path],
    worker_user: pwd.struct_passwd | None = None,
    worker_gid: int | None = None,
    media_root: Path | None = None,
    media_accel: bool = False,
    media_signing_secret: str = "",
) -> str:
    user_directive = ""
    if worker_user is not None:
        group = grp.getgrgid(worker_gid if worker_gid is not None else worker_user.pw_gid).gr_name
        user_directive = f"user {worker_user.pw_name} {group};"
    values = {
        "USER_DIRECTIVE": user_directive,
        "MEDIA_ROOT": str(media_root or run_dir / "no-media"),
        "MEDIA_ACCEL_HEADER": MEDIA_ACCEL_PREFIX if media_accel and media_root else "",
        "SIGNED_MEDIA_LOCATION": signed_media_location(media_root, media_signing_secret)
        if media_accel and media_root and media_signing_secret
        else "",
        "RUN_DIR": str(run_dir),
        "HTTP_SERVERS": "\n        ".join(f"server unix:{path} fail_timeout=0;" for path in http_sockets),
        "LISTEN": listen,
        "MAX_BODY_BYTES": str(max_body_bytes),
        "ACCESS_LOG": f"{access_log} combined buffer=64k flush=2s" if access_log else "off",
    }
    config = TEMPLATE.read_text()
    for name, value in values.items():
        config = config.replace(f"@@{name}@@", value)
    return config


def share_run_dir_with_nginx_workers(
    run_dir: Path, worker_user: pwd.struct_passwd | None, worker_gid: int | None = None
) -> None:
    """Let nginx's unprivileged workers reach the sockets in the run directory, and no other user.

    gunicorn and Daphne make their sockets writable by everyone; the directory is what keeps others out: it is
    given the workers' group, which may enter it but not write in it.
    """
    if worker_user is None:
        return
    os.chown(run_dir, -1, worker_user.pw_gid if worker_gid is None else worker_gid)
    run_dir.chmod(0o750)


def prepare_access_log(path: Path) -> None:
    """Create the access log (and its folder) closed to other users before nginx opens it for appending.

    nginx creates a missing log file with mode 0644; one made here first keeps LOG_FILE_MODE, and an older
    world-readable one is closed too.
    """
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=LOG_DIR_MODE)
        path.parent.chmod(LOG_DIR_MODE)  # mkdir's mode passes through the umask
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
    try:
        os.fchmod(descriptor, LOG_FILE_MODE)
    finally:
        os.close(descriptor)


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGTERM when the supervisor dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(args, env=env, preexec_fn=_die_with_parent)  # noqa: PLW1509 - no threads here


def _wait_for_unix_socket(path: Path, process: subprocess.Popen, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} while starting")
        if path.exists():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(str(path)) == 0:
                    return
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on {path} within {timeout:.0f}s")


def default_threads() -> int:
    # Each thread holds at most one pooled database connection, so more threads than the pool only wait on it.
    return int(os.environ.get("DATABASE_POOL_MAX_SIZE", "10"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bind", default="127.0.0.1", help="address nginx listens on")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_WORKERS", os.cpu_count() or 2)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", default_threads())))
    parser.add_argument("--access-log", default=os.environ.get("WEB_ACCESS_LOG") or None)
    # bench/api.py serves its own applications (the platform plus a bare view) through this same front.
    parser.add_argument("--wsgi-application", default="mediaplatform.wsgi:application", help=argparse.SUPPRESS)
    parser.add_argument("--asgi-application", default="mediaplatform.asgi:application", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")
    from django.conf import settings

    from videos.media_signing import media_signing_secret

    max_body_bytes = settings.VIDEO_MAX_UPLOAD_BYTES + BODY_SLACK_BYTES
    # Short: a unix socket path must fit in 108 bytes.
    run_dir = Path(tempfile.mkdtemp(prefix="mp-web-"))
    http_sockets, websocket_socket = http_socket_paths(run_dir, options.workers), run_dir / "websockets.sock"
    listen = f"[{options.bind}]:{options.port}" if ":" in options.bind else f"{options.bind}:{options.port}"
    worker_user = nginx_worker_user()
    media_root = Path(settings.MEDIA_ROOT).resolve()
    media_root.mkdir(parents=True, exist_ok=True)
    worker_gid = nginx_worker_group(worker_user, media_root)
    umask = os.umask(0o022)
    os.umask(umask)
    media_accel = media_readable_by_workers(media_root, worker_user=worker_user, worker_gid=worker_gid, umask=umask)
    if not media_accel:
        print(
            f"WARNING: nginx's workers ({worker_user.pw_name}) cannot read {media_root} (its group is root's, or it "
            "is closed to them): Django streams the media itself. Give the folder the platform's group.",
            file=sys.stderr,
        )
    share_run_dir_with_nginx_workers(run_dir, worker_user, worker_gid)
    if options.access_log:
        prepare_access_log(Path(options.access_log))
    (run_dir / "nginx.conf").write_text(
        render_nginx_config(
            run_dir=run_dir,
            listen=listen,
            max_body_bytes=max_body_bytes,
            access_log=options.access_log,
            http_sockets=http_sockets,
            worker_user=worker_user,
            worker_gid=worker_gid,
            media_root=media_root,
            media_accel=media_accel,
            media_signing_secret=media_signing_secret(),
        )
    )

    python = sys.executable
    env = dict(os.environ)
    processes: dict[str, subprocess.Popen] = {}

    def stop_all() -> None:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 20
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(run_dir, ignore_errors=True)

    def on_signal(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        for number, http_socket in enumerate(http_sockets):
            processes[f"gunicorn-{number}"] = _start_gunicorn(python, http_socket, options, env)
        processes["daphne"] = _start(
            [python, "-m", "daphne", "-u", str(websocket_socket), "--proxy-headers", options.asgi_application],
            env,
        )
        for number, http_socket in enumerate(http_sockets):
            _wait_for_unix_socket(http_socket, processes[f"gunicorn-{number}"], f"gunicorn {number}")
        _wait_for_unix_socket(websocket_socket, processes["daphne"], "daphne")
        processes["nginx"] = _start(
            [nginx_binary(), "-e", "stderr", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf")], env
        )
        print(
            f"mediaplatform web: http://{listen}/ (nginx -> {options.workers} gunicorn x {options.threads} threads, "
            f"daphne for /ws/)",
            flush=True,
        )
        while True:
            for name, process in processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with status {process.returncode}; stopping the others", file=sys.stderr)
                    return process.returncode or 1
            time.sleep(0.2)
    finally:
        stop_all()


def _start_gunicorn(python: str, http_socket: Path, options: argparse.Namespace, env: dict) -> subprocess.Popen:
    """One gunicorn with one gthread worker process on its own socket (see the module's docstring)."""
    return _start(
        [
            python, "-m", "gunicorn",
            "--bind", f"unix:{http_socket}",
            "--workers", "1",
            "--worker-class", "gthread",
            "--threads", str(options.threads),
            # Longer than nginx keeps an idle upstream connection (60 s), so gunicorn never closes one
            # nginx is about to reuse.
            "--keep-alive", "75",
            "--graceful-timeout", "15",
            "--no-control-socket",
            "--error-logfile", "-",
            options.wsgi_application,
        ],
        {**env, "WSGI_CLIENT_ADDRESS_HEADER": CLIENT_ADDRESS_HEADER},
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
