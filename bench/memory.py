"""Peak memory of processing a 10-minute video against a 10-second one, with the same settings.

    python bench/memory.py [--long-seconds 600] [--short-seconds 10] [--frame-step 10] [--smoke]

Each video is processed by `manage.py process_video` in its own process (the real pipeline, making the H.264
rendition, poster and thumbnails too, on a throwaway database); the peak resident memory of each process comes
from the kernel (wait4). The last line is `memory_ratio=...` (long over short; the goal is <= 1.2).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchdb import REPOSITORY_ROOT, SMOKE_HELP, django_setup, last_line, throwaway_database  # noqa: E402


def peak_rss_mb(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPOSITORY_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read().decode()
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-seconds", type=float, default=600)
    parser.add_argument("--short-seconds", type=float, default=10)
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--frame-step", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--smoke", action="store_true", help=SMOKE_HELP)
    args = parser.parse_args()
    if args.smoke:
        args.long_seconds, args.short_seconds, args.fps, args.frame_step, args.image_size = 1, 0.5, 4, 2, 64

    django_setup()
    from tests.videofiles import write_test_video

    with tempfile.TemporaryDirectory() as scratch, throwaway_database() as database:
        env = {
            **os.environ,
            "DATABASE_NAME": database,
            "MEDIA_ROOT": str(Path(scratch) / "media"),
            "DETECTOR_IMAGE_SIZE": str(args.image_size),
            "REUSE_IDENTICAL_UPLOADS": "false",
            # The rendition is encoded in the same process, frame by frame: it must not grow with the video.
            "RENDITION_ALWAYS": "true",
        }
        results = {}
        for label, seconds in (("short", args.short_seconds), ("long", args.long_seconds)):
            video = write_test_video(Path(scratch) / f"{label}.mp4", seconds=seconds, fps=args.fps)
            command = [
                sys.executable,
                "manage.py",
                "process_video",
                str(video),
                "--frame-step",
                str(args.frame_step),
                "--owner",
                f"bench-{label}",
            ]
            peak, wall, output = peak_rss_mb(command, env)
            frames = next((line for line in output.splitlines() if line.startswith("frames:")), "")
            results[label] = peak
            print(f"{label}: {seconds:.0f} s of video, {frames}; peak RSS {peak:.1f} MB; {wall:.1f} s")
    ratio = results["long"] / results["short"]
    print(last_line(long_peak_mb=results["long"], short_peak_mb=results["short"], memory_ratio=ratio))


if __name__ == "__main__":
    main()
