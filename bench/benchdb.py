"""Django set-up for benchmarks: the real settings, with a throwaway database created and dropped per run."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    if str(REPOSITORY_ROOT) not in sys.path:
        sys.path.insert(0, str(REPOSITORY_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")
    os.environ.setdefault("DATABASE_TEST_NAME", f"bench_mediaplatform_{os.getpid()}")
    os.environ.setdefault("MEDIA_ROOT", f"/tmp/mediaplatform-bench-media-{os.getpid()}")
    import django

    django.setup()


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create the benchmark's own database (migrated), yield its name, drop it afterwards."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        connection.close()
        teardown_databases(old_config, verbosity=0)


def last_line(**figures: float | int | str) -> str:
    """The `key=value ...` line every benchmark ends with."""
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
