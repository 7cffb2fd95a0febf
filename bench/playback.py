"""Viewers seeking through a rendition: the platform (the signed URL a player gets, served by nginx) against nginx
serving the same file directly, in the same run.

    python bench/playback.py [--viewers 100] [--seconds 20] [--chunk-kib 4096] [--clip-seconds 10] [--smoke]

Each viewer holds one keep-alive connection and asks for byte ranges at random offsets (a player seeking), as fast
as it gets them, for the same time on each side. The platform side loads what the video page hands a player, the
rendition's signed URL (videos/media_signing.py), which nginx checks and serves itself; the permission-checked
route, where Django answers every range with an X-Accel-Redirect, is measured too and printed for comparison. The
platform side is the real front (mediaplatform.serve: nginx, gunicorn, Daphne) on a throwaway database, signed in
as the video's owner. Its gunicorn runs the platform wrapped by `application` below, which counts, across its
worker processes, the requests in flight and the threads sending a response body. The last line is `ratio=...
busy_threads=...`: platform bytes/s over direct bytes/s (goal >= 0.9), and the most gunicorn threads seen sending
a body while the viewers download (goal 0: nginx sends the bytes).
"""

import argparse
import http.client
import mmap
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import REPOSITORY_ROOT, SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402

COUNTERS_DIR_VARIABLE = "PLAYBACK_BENCH_COUNTERS"
_SLOT = struct.Struct("qq")  # requests in flight, threads sending a body


# -- the counting WSGI wrapper, run inside gunicorn ----------------------------------------------------------


class _Counters:
    """This process's two figures in a small shared file the benchmark reads while the viewers download."""

    def __init__(self, directory: str):
        path = Path(directory) / f"{os.getpid()}.counters"
        self.handle = open(path, "w+b")  # noqa: SIM115 - lives as long as the process
        self.handle.write(bytes(_SLOT.size))
        self.handle.flush()
        self.map = mmap.mmap(self.handle.fileno(), _SLOT.size)
        self.lock = threading.Lock()
        self.in_flight = self.sending = 0

    def change(self, *, in_flight: int = 0, sending: int = 0) -> None:
        with self.lock:
            self.in_flight += in_flight
            self.sending += sending
            self.map[:] = _SLOT.pack(self.in_flight, self.sending)


class _CountedBody:
    def __init__(self, body, counters: _Counters):
        self.body, self.counters, self.sending = body, counters, False

    def __iter__(self):
        for chunk in self.body:
            if chunk and not self.sending:
                self.sending = True
                self.counters.change(sending=1)
            yield chunk

    def close(self):
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.counters.change(in_flight=-1, sending=-1 if self.sending else 0)


_counters: _Counters | None = None
_platform = None
_first_request = threading.Lock()


def application(environ, start_response):
    """The platform's WSGI application, counted (gunicorn --wsgi-application playback:application)."""
    global _counters, _platform
    if _platform is None:
        with _first_request:  # gunicorn's threads may all arrive at once
            if _platform is None:
                from mediaplatform.wsgi import application as platform

                _counters = _Counters(os.environ[COUNTERS_DIR_VARIABLE])
                _platform = platform
    _counters.change(in_flight=1)
    try:
        body = _platform(environ, start_response)
    except BaseException:
        _counters.change(in_flight=-1)
        raise
    return _CountedBody(body, _counters)


def read_counters(directory: Path) -> tuple[int, int]:
    in_flight = sending = 0
    for path in directory.glob("*.counters"):
        try:
            a, b = _SLOT.unpack(path.read_bytes()[: _SLOT.size])
        except (OSError, struct.error):
            continue
        in_flight, sending = in_flight + a, sending + b
    return in_flight, sending


# -- the benchmark ---------------------------------------------------------------------------------------------


def direct_nginx_config(run_dir: Path, port: int, media_root: Path) -> str:
    """nginx as the platform's front runs it (one worker, sendfile), serving MEDIA_ROOT with no check at all."""
    return f"""
worker_processes 1;
pid {run_dir}/nginx.pid;
error_log stderr warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {run_dir}/client_body;
    proxy_temp_path {run_dir}/proxy;
    fastcgi_temp_path {run_dir}/fastcgi;
    uwsgi_temp_path {run_dir}/uwsgi;
    scgi_temp_path {run_dir}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location /media/ {{
            alias {media_root}/;
            sendfile on;
            tcp_nopush on;
            output_buffers 2 256k;
        }}
    }}
}}
"""


def viewers_download(
    *, port: int, path: str, size: int, viewers: int, seconds: float, chunk: int, cookie: str, on_running=None
) -> float:
    """Bytes per second over all viewers, each asking for random ranges on its own keep-alive connection."""
    received = [0] * viewers
    failures: list[str] = []
    start = threading.Barrier(viewers + 1)
    stop_at = [0.0]

    def viewer(number: int) -> None:
        rng = random.Random(number)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Cookie": cookie} if cookie else {}
        start.wait()
        try:
            while time.monotonic() < stop_at[0]:
                first = rng.randrange(0, max(size - chunk, 1))
                connection.request("GET", path, headers={**headers, "Range": f"bytes={first}-{first + chunk - 1}"})
                response = connection.getresponse()
                body = response.read()
                if response.status != 206:
                    failures.append(f"HTTP {response.status}: {body[:200]!r}")
                    return
                received[number] += len(body)
        except OSError as exc:
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=viewer, args=(n,), daemon=True) for n in range(viewers)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.monotonic() + seconds
    started = time.monotonic()
    start.wait()
    if on_running is not None:
        on_running(stop_at[0])
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise SystemExit(f"{len(failures)} viewers failed, first: {failures[0]}")
    return sum(received) / elapsed


def sample_counters(directory: Path, until: float, samples: list[tuple[int, int]]) -> threading.Thread:
    def run():
        while time.monotonic() < until:
            samples.append(read_counters(directory))
            time.sleep(0.005)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def write_grainy_clip(path: Path, *, seconds: float, width: int, height: int) -> Path:
    """An MPEG-4 Part 2 AVI of coarse moving grain: it compresses like camera footage, so the rendition has the
    size of a real one (a clean synthetic scene would compress to almost nothing)."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    grain = rng.integers(0, 256, size=(height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"qscale": "3"}
        for index in range(int(seconds * 25)):
            shifted = np.roll(grain, shift=index % 8, axis=1)[: height // 8, : width // 8]
            image = np.repeat(np.repeat(shifted, 8, axis=0), 8, axis=1)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def make_rendition_video(scratch: Path, *, seconds: float, width: int, height: int):
    """A signed-in owner's AVI with its rendition made as the worker makes it; returns (video, session cookie)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import transaction

    from processing.services.playback import playback_files_make, playback_record
    from tests.factories import UserFactory
    from videos.services.creation import video_create
    from videos.services.transitions import video_lock

    clip = write_grainy_clip(scratch / "seek.avi", seconds=seconds, width=width, height=height)
    owner = UserFactory()
    video = video_create(owner=owner, uploaded_file=SimpleUploadedFile("seek.avi", clip.read_bytes()), enqueue=False)
    prepared = playback_files_make(video=video)
    with transaction.atomic():
        playback_record(video=video_lock(video_id=video.pk), prepared=prepared)
    video.refresh_from_db()
    session = SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(owner.pk), settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = owner.get_session_auth_hash()
    session.save()
    return video, f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def wait_for_port(port: int, process: subprocess.Popen, name: str) -> None:
    import socket

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with status {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"{name} did not listen on {port}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    # What a player reads after a seek before it seeks again (Chromium buffers several MiB ahead).
    parser.add_argument("--chunk-kib", type=int, default=4096)
    parser.add_argument("--clip-seconds", type=float, default=10)
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    width, height = 1280, 720
    if args.smoke:
        args.viewers, args.seconds, args.chunk_kib, args.clip_seconds = 4, 1, 16, 1
        width, height = 320, 240

    django_setup()
    from django.conf import settings

    from mediaplatform.serve import nginx_binary

    scratch = Path(tempfile.mkdtemp(prefix="mp-playback-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        with throwaway_database() as database:
            video, cookie = make_rendition_video(scratch, seconds=args.clip_seconds, width=width, height=height)
            media_root = Path(settings.MEDIA_ROOT).resolve()
            rendition = media_root / video.rendition.name
            size = rendition.stat().st_size
            print(f"rendition: {size / 1024**2:.1f} MiB ({width}x{height}, {args.clip_seconds:.0f} s); "
                  f"{args.viewers} viewers, {args.chunk_kib} KiB ranges, {args.seconds:.0f} s each side; "
                  f"cpu cores {os.cpu_count()}")  # fmt: skip

            counters = scratch / "counters"
            counters.mkdir()
            platform_port, direct_port = free_port(), free_port()
            env = {
                **os.environ,
                "DATABASE_NAME": database,
                "MEDIA_ROOT": str(media_root),
                COUNTERS_DIR_VARIABLE: str(counters),
                "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent), str(REPOSITORY_ROOT)]),
                "LOG_LEVEL": "WARNING",
            }
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "mediaplatform.serve",
                        "--port",
                        str(platform_port),
                        "--wsgi-application",
                        "playback:application",
                    ],
                    cwd=REPOSITORY_ROOT,
                    env=env,
                )  # fmt: skip
            )
            run_dir = scratch / "direct"
            run_dir.mkdir()
            (run_dir / "nginx.conf").write_text(direct_nginx_config(run_dir, direct_port, media_root))
            processes.append(
                subprocess.Popen(
                    [nginx_binary(), "-e", "stderr", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf")]
                )
            )
            wait_for_port(platform_port, processes[0], "the platform's front")
            wait_for_port(direct_port, processes[1], "the direct nginx")

            common = {"size": size, "viewers": args.viewers, "chunk": args.chunk_kib * 1024}
            # Warm both (page cache, keep-alive pools, Django's first requests), then measure.
            warm = {**common, "seconds": min(1.0, args.seconds)}
            from videos.selectors_playback import playback_fields

            # What the video page hands the player: the signed URL (the user was checked when it was issued).
            platform_path = playback_fields(video)["playback"]["url"]
            checked_path = f"/videos/{video.pk}/playback/{Path(video.rendition.name).name}"
            direct_path = f"/media/{video.rendition.name}"
            viewers_download(port=direct_port, path=direct_path, cookie="", **warm)
            viewers_download(port=platform_port, path=platform_path, cookie=cookie, **warm)

            for label, port, path, cookie_here in (
                ("direct", direct_port, direct_path, ""),
                ("platform", platform_port, platform_path, cookie),
            ):
                one = viewers_download(port=port, path=path, cookie=cookie_here, **{**warm, "viewers": 1})
                print(f"one viewer alone, {label}: {one / 1024**2:.1f} MiB/s")
            direct = viewers_download(port=direct_port, path=direct_path, cookie="", seconds=args.seconds, **common)
            samples: list[tuple[int, int]] = []
            samplers: list[threading.Thread] = []
            platform = viewers_download(
                port=platform_port,
                path=platform_path,
                cookie=cookie,
                seconds=args.seconds,
                on_running=lambda until: samplers.append(sample_counters(counters, until, samples)),
                **common,
            )
            for sampler in samplers:
                sampler.join()
            # The permission-checked route (Django for every range, then X-Accel-Redirect), for comparison.
            checked = viewers_download(
                port=platform_port, path=checked_path, cookie=cookie, seconds=args.seconds, **common
            )
            in_flight = [a for a, _ in samples] or [0]
            sending = [b for _, b in samples] or [0]
            print(f"nginx direct: {direct / 1024**2:.1f} MiB/s")
            print(f"platform, the player's signed URL (nginx checks it): {platform / 1024**2:.1f} MiB/s")
            print(
                f"platform, Django's check on every range + X-Accel-Redirect: {checked / 1024**2:.1f} MiB/s "
                f"(ratio {checked / direct:.2f})"
            )
            print(
                f"gunicorn during the download ({len(samples)} samples): requests in flight mean "
                f"{sum(in_flight) / len(in_flight):.2f}, max {max(in_flight)}; "
                f"threads sending a body max {max(sending)}"
            )
            print(last_line(ratio=platform / direct, busy_threads=max(sending)))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
