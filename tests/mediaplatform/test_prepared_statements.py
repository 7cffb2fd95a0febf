"""DATABASE_PREPARED_STATEMENTS: parameters bound by the server, and a statement repeated on a connection prepared.

The API's hot reads are one statement each; preparing them spares PostgreSQL from planning them on every request
(bench/api.py measures the difference).
"""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def _prepared_statements(cursor, text: str) -> int:
    cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement = %s", [text])
    return cursor.fetchone()[0]


def test_a_statement_repeated_on_a_connection_is_prepared_once():
    with connection.cursor() as cursor:
        for value in range(10):
            cursor.execute("SELECT %s::integer + 1", [value])
            assert cursor.fetchone()[0] == value + 1

        assert _prepared_statements(cursor, "SELECT $1::integer + 1") == 1


def test_the_orm_binds_its_parameters_on_the_server():
    from videos.models import Video

    for _ in range(10):
        list(Video.objects.filter(title="never").values_list("id", flat=True))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ['%"videos_video"."title" = $1%']
        )
        assert len(cursor.fetchall()) == 1
