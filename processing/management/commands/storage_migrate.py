"""Move the media library to the other storage backend: `storage_migrate --to s3` or `--to local`."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from processing.services.stored_media import MEDIA_FOLDERS, referenced_media
from videos.services.storage_migration import (
    BACKENDS,
    MigrationProgress,
    StorageMigrationRefused,
    storage_migrate,
)

MIB = 1024**2


class ProgressDisplay:
    """Objects and bytes done: one line redrawn in place on a terminal, a plain line per object otherwise."""

    REDRAW_SECONDS = 0.2

    def __init__(self, stream, *, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self._drawn_at = 0.0
        self._width = 0

    def __call__(self, progress: MigrationProgress) -> None:
        if self.interactive:
            now = time.monotonic()
            if progress.outcome or now - self._drawn_at >= self.REDRAW_SECONDS:
                self._drawn_at = now
                self._redraw(progress)
        elif progress.outcome:
            self.stream.write(f"{self._figures(progress)}  {progress.outcome}: {progress.name}\n")
            self.stream.flush()

    def _figures(self, progress: MigrationProgress) -> str:
        share = progress.bytes_done / progress.bytes_total if progress.bytes_total else 1.0
        return (
            f"[{progress.objects_done}/{progress.objects_total} objects, "
            f"{progress.bytes_done / MIB:.1f}/{progress.bytes_total / MIB:.1f} MiB, {share:.0%}]"
        )

    def _redraw(self, progress: MigrationProgress) -> None:
        share = progress.bytes_done / progress.bytes_total if progress.bytes_total else 1.0
        filled = int(share * 30)
        line = f"|{'#' * filled}{'.' * (30 - filled)}| {self._figures(progress)}"
        if progress.name:
            line += f" {progress.outcome or 'copying'}: {progress.name}"
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def finish(self) -> None:
        if self.interactive and self._width:
            self.stream.write("\n")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Copy every stored object the database refers to (videos, playback files, annotated videos, model weights) "
        "from the configured storage to the other backend, each verified by SHA-256; a rerun resumes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--to", required=True, choices=BACKENDS, dest="target", help="The backend to move to")
        parser.add_argument("--dry-run", action="store_true", help="Copy nothing; say what would be copied")
        parser.add_argument(
            "--delete-source",
            action="store_true",
            help="Remove each object from the source once its copy at the target is verified",
        )
        parser.add_argument("--list-orphans", action="store_true", help="Name the unreferenced objects at the source")

    def handle(self, *args, target: str, dry_run: bool, delete_source: bool, list_orphans: bool, **options):
        if dry_run and delete_source:
            raise CommandError("--dry-run and --delete-source do not go together")
        display = ProgressDisplay(sys.stderr, interactive=sys.stderr.isatty())
        try:
            report = storage_migrate(
                target_backend=target,
                references=referenced_media(),
                orphan_folders=MEDIA_FOLDERS,
                dry_run=dry_run,
                delete_source=delete_source,
                progress=display,
            )
        except StorageMigrationRefused as exc:
            raise CommandError(str(exc)) from exc
        finally:
            display.finish()
        for line in report.lines():
            self.stdout.write(line)
        if list_orphans:
            for name, size in report.orphans.items():
                self.stdout.write(f"  orphan {name} ({size} bytes)")
        if not report.succeeded:
            raise CommandError(
                f"{len(report.failed) + len(report.not_tried)} object(s) not migrated; run the command again to "
                "resume (what is already across is checked and skipped)"
            )
        if dry_run:
            self.stdout.write("dry run: nothing was copied")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"every referenced object is at the target. Next: set MEDIA_STORAGE={target}"
                    + (" (with these MEDIA_S3_* settings)" if target == "s3" else " (with this MEDIA_ROOT)")
                    + " for the web front, every worker and beat, and restart them"
                )
            )
