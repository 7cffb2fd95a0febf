"""A throwaway checkout for running scripts/run_platform.sh for real, with stand-ins for the venv's executables."""

import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "run_platform.sh"


def stand_in_checkout(*, prefix: str, stand_in: str) -> Path:
    """A folder the platform's unprivileged user may enter (pytest's own are root's alone).

    `stand_in` is the shell script that plays the venv's `python` and `celery`; `{name}` and `{record}` in it
    become the executable's name and the file (record/starts.txt, writable by anyone) it records starts in.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    record = folder / "record" / "starts.txt"
    record.parent.mkdir(mode=0o777)
    record.parent.chmod(0o777)
    bin_dir = folder / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for directory in (folder / "venv", bin_dir):
        directory.chmod(0o755)
    for name in ("python", "celery"):
        (bin_dir / name).write_text(stand_in.format(name=name, record=record))
        (bin_dir / name).chmod(0o755)
    return folder
