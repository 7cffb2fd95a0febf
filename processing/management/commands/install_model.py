"""Install detection weights in the foreground: a catalog name, a URL or a path on this server."""

from django.core.management.base import BaseCommand, CommandError

from processing.catalog import CATALOG
from processing.services.model_install import InstallRefused, model_install_request, model_install_run

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Download, prove and register detection weights: a catalog name ("
        + ", ".join(CATALOG)
        + "), an http(s) URL, or a path to ultralytics weights on this server."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="Catalog name, URL or path")
        parser.add_argument("--default", action="store_true", help="Make it the default model")

    def handle(self, *args, source: str, default: bool, **options):
        try:
            install = model_install_request(actor=None, source=source, make_default=default, allow_paths=True)
            install = model_install_run(install_id=install.pk, on_progress=self._bar())
        except InstallRefused as exc:
            self.stdout.write("")
            raise CommandError(f"{exc.message} ({exc.code})")
        model = install.detector_model
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Installed {model} (sha256 {model.sha256}){', the default model' if model.is_default else ''}."
            )
        )

    def _bar(self):
        shown = {"percent": -1, "mb": -1}

        def show(done: int, total: int | None) -> None:
            if total:
                percent = done * 100 // total
                if percent == shown["percent"]:
                    return
                shown["percent"] = percent
                filled = BAR_WIDTH * done // total
                line = (
                    f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}% {done / 1e6:.1f}/{total / 1e6:.1f} MB"
                )
            else:
                mb = done // 1_000_000
                if mb == shown["mb"]:
                    return
                shown["mb"] = mb
                line = f"{done / 1e6:.1f} MB"
            self.stdout.write("\r" + line, ending="")
            self.stdout.flush()

        return show
