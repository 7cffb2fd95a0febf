"""One Redis connection pool per process for the cache, whatever serves the request.

Django's cache handler gives each ASGI request context a cache object of its own; with Django's own Redis
backend each of those opened a connection pool, whose connection stayed open until the garbage collector came
by. django-redis keeps one pool per Redis server and process.
Under load on the ASGI path (Daphne alone, `bench/api.py --server daphne`) that ran Redis out of connections
("max number of clients reached": 500s).
"""

import asyncio
import threading

import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.test import AsyncClient
from django_redis import get_redis_connection

from tests.event_loops import run_in_own_loop
from tests.factories import TokenFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _cache_connections() -> int:
    """Connections to the cache's Redis database, counted by the server."""
    client = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    try:
        database = client.connection_pool.connection_kwargs.get("db", 0)
        return sum(1 for entry in client.client_list() if int(entry["db"]) == database) - 1  # not this one
    finally:
        client.close()


def test_cache_objects_of_different_threads_share_one_pool():
    pools = []

    def use_the_cache():
        cache = caches["default"]
        cache.get("anything")
        pools.append(get_redis_connection("default").connection_pool)

    threads = [threading.Thread(target=use_the_cache) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(pools) == 3
    assert pools[0] is pools[1] is pools[2]


def test_api_requests_through_the_asgi_handler_do_not_open_a_redis_connection_each():
    token = TokenFactory()
    client = AsyncClient()
    headers = {"Authorization": f"Token {token.key}"}

    async def requests(count: int) -> list[int]:
        # A task per request, as an ASGI server runs them: each in a context of its own.
        statuses = [
            (await asyncio.create_task(client.get("/api/v1/videos/", headers=headers))).status_code
            for _ in range(count)
        ]
        await sync_to_async(connections.close_all)()  # the thread the views ran in
        return statuses

    run_in_own_loop(requests(3))  # the pool's first connection is open
    before = _cache_connections()

    statuses = run_in_own_loop(requests(40))

    assert statuses == [200] * 40
    assert _cache_connections() - before <= 2
