"""Apply the retention rules now; with --dry-run, only say what would go and how many bytes it frees.

A failed storage operation (the store unreachable) does not stop the run; the command then exits non-zero.
"""

from django.core.management.base import BaseCommand, CommandError

from processing.services.retention import audit_cleanup_run, retention_cleanup


class Command(BaseCommand):
    help = "Archive, delete and purge what has outlived the retention thresholds (RETENTION_* settings)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; print what would be removed")
        parser.add_argument("--verbose-ids", action="store_true", help="List the affected video ids and files")

    def handle(self, *args, dry_run: bool, verbose_ids: bool, **options):
        report = retention_cleanup(dry_run=dry_run)
        if not dry_run:
            audit_cleanup_run(report)
        for line in report.lines():
            self.stdout.write(line)
        if verbose_ids:
            for video_id in report.archived_videos:
                self.stdout.write(f"  archive {video_id}")
            for reason, ids in report.deleted_videos.items():
                for video_id in ids:
                    self.stdout.write(f"  delete {video_id} ({reason})")
            for name in report.orphan_files:
                self.stdout.write(f"  orphan {name}")
        if report.storage_failures:
            # Everything else was done; the exit status tells a scheduler or an operator that storage needs a look.
            raise CommandError(
                f"{len(report.storage_failures)} storage operation(s) failed (see above and the storage operations log)"
            )
