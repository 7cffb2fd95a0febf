"""Rendering an annotated video: frames per second against a plain re-encode, and peak memory short vs long.

    python bench/annotated_video.py [--width 1280] [--height 720] [--seconds 10] [--fps 25] [--boxes 10] [--smoke]

Ours is processing.annotated_render.render_annotated_video on a generated clip with `--boxes` tracked boxes per
frame, trails on. The baseline, measured in the same run, decodes and encodes the same clip with the same
encoder settings and draws nothing: what is left of a render once the drawing is taken away. Memory: the peak
resident size of a child process rendering the clip, then a clip four times as long (a flat line means frames
and boxes stream through). The last line is `render_fps=... baseline_fps=... ratio=... short_peak_mb=...
long_peak_mb=... memory_ratio=...` (ratio: ours over the baseline; memory_ratio: long over short).
"""

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

from processing.annotated_render import DrawnBox, render_annotated_video  # noqa: E402
from tests.videofiles import write_test_video  # noqa: E402


def moving_boxes(*, frames: int, per_frame: int, width: int, height: int):
    """`per_frame` tracked boxes a frame, each drifting right, generated as they are drawn (nothing held)."""
    size = max(8, min(width, height) // 8)
    for frame in range(frames):
        for track in range(per_frame):
            x = (track * size * 1.5 + frame * 3) % max(1, width - size)
            y = (track * size) % max(1, height - size)
            yield DrawnBox(
                frame, track % 5, f"class{track % 5}", 0.5 + track % 5 / 10, track + 1, x, y, x + size, y + size
            )


def plain_reencode(source: Path, output: Path) -> int:
    return render_annotated_video(source_path=source, output_path=output, boxes=[], trails=False).frames


def timed(function, *args) -> tuple[float, int]:
    started = time.perf_counter()
    frames = function(*args)
    return time.perf_counter() - started, frames


def _render_in_child(source: str, output: str, frames: int, per_frame: int, width: int, height: int, queue) -> None:
    boxes = moving_boxes(frames=frames, per_frame=per_frame, width=width, height=height)
    render_annotated_video(source_path=source, output_path=output, boxes=boxes, trails=True)
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux


def peak_mb(source: Path, output: Path, frames: int, args) -> float:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no pages of this one counted
    queue = context.Queue()
    child = context.Process(
        target=_render_in_child,
        args=(str(source), str(output), frames, args.boxes, args.width, args.height, queue),
    )
    child.start()
    peak = queue.get(timeout=3600)
    child.join()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--boxes", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs, measures nothing")
    args = parser.parse_args()
    if args.smoke:
        args.width, args.height, args.seconds, args.fps, args.boxes = 160, 120, 1, 5, 2

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        short = write_test_video(
            folder / "short.mp4", seconds=args.seconds, fps=args.fps, width=args.width, height=args.height
        )
        long = write_test_video(
            folder / "long.mp4", seconds=args.seconds * 4, fps=args.fps, width=args.width, height=args.height
        )
        frames = round(args.seconds * args.fps)
        baseline_s, _ = timed(plain_reencode, short, folder / "plain.mp4")
        boxes = moving_boxes(frames=frames, per_frame=args.boxes, width=args.width, height=args.height)
        ours_s, rendered = timed(
            lambda: (
                render_annotated_video(
                    source_path=short, output_path=folder / "ours.mp4", boxes=boxes, trails=True
                ).frames
            )
        )
        short_peak = peak_mb(short, folder / "short-out.mp4", frames, args)
        long_peak = peak_mb(long, folder / "long-out.mp4", frames * 4, args)

    render_fps, baseline_fps = rendered / ours_s, rendered / baseline_s
    print(f"clip: {args.width}x{args.height}, {rendered} frames, {args.boxes} tracked boxes a frame, trails on")
    print(f"render: {ours_s:.2f} s, {render_fps:.1f} frames/s; plain re-encode: {baseline_s:.2f} s, {baseline_fps:.1f}")
    print(f"peak resident: {short_peak:.1f} MB for {frames} frames, {long_peak:.1f} MB for {frames * 4}")
    print(
        f"render_fps={render_fps:.1f} baseline_fps={baseline_fps:.1f} ratio={render_fps / baseline_fps:.2f} "
        f"short_peak_mb={short_peak:.1f} long_peak_mb={long_peak:.1f} memory_ratio={long_peak / short_peak:.2f}"
    )


if __name__ == "__main__":
    main()
