"""Django set-up for benchmarks: the real settings, with a throwaway database created and dropped per run."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
# Every benchmark's --smoke: tiny sizes, a few seconds, so the test suite proves the script still runs.
SMOKE_HELP = "tiny sizes, a few seconds: proves the script still runs; its figures mean nothing"


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
    name = connection.settings_dict["NAME"]
    try:
        yield name
    finally:
        connection.close()
        try:
            teardown_databases(old_config, verbosity=0)
        except Exception:
            # Typically a server process that has not let go of its connection yet: drop it anyway.
            _drop_database_forcibly(name)


def _drop_database_forcibly(name: str) -> None:
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    with psycopg.connect(
        dbname="postgres",
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"],
        port=settings["PORT"],
        autocommit=True,
    ) as admin:
        admin.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))


def last_line(**figures: float | int | str) -> str:
    """The `key=value ...` line every benchmark ends with."""
    parts = []
    for key, value in figures.items():
        parts.append(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)
