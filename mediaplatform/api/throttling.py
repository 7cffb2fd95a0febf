"""Rate limits per API key (or per user, for token and session logins), counted in Redis.

A fixed window per identity: one Redis round trip per request (a script: INCR, EXPIRE on the window's first
request), atomic across every server process.
Rates come from settings.API_RATE_LIMITS ({"key": "600/min", "user": "600/min", "anon": "60/min",
"sign_in_username": "20/min"}), read at request time; going over answers 429 with Retry-After (seconds to the
window's end). The sign-in endpoints count per address (the anon rate, whatever credentials came along) and per
username tried (accounts.sign_in.SignInUsernameThrottle).
"""

import logging
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip().lower()]


class RedisRateThrottle(BaseThrottle):
    def __init__(self):
        self._wait = None

    def identity(self, request) -> tuple[str, str]:
        # An authenticator may name its own rate (API keys have theirs); the credential's pk identifies it.
        scope = getattr(getattr(request, "successful_authenticator", None), "rate_limit_scope", None)
        if scope and request.auth is not None:
            return scope, f"{scope}:{request.auth.pk}"
        if request.user and request.user.is_authenticated:
            return "user", f"user:{request.user.pk}"
        return "anon", f"anon:{self.get_ident(request)}"

    def allow_request(self, request, view) -> bool:
        scope, ident = self.identity(request)
        rate = settings.API_RATE_LIMITS.get(scope)
        if not rate:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        cache_key = f"throttle:{ident}:{period}:{window}"
        count = _increment(cache_key, timeout=period + 1)
        if count > limit:
            self._wait = max(1, int((window + 1) * period - now + 0.999))
            logger.info("rate limit hit by %s (%s requests per %ss)", ident, limit, period)
            return False
        return True

    def wait(self):
        return self._wait


class AddressRateThrottle(RedisRateThrottle):
    """The anonymous rate per client address, for endpoints anyone may call (the token endpoint): an
    Authorization header, valid or not, never moves the caller to a more generous rate."""

    def identity(self, request) -> tuple[str, str]:
        return "anon", f"anon:{self.get_ident(request)}"


# INCR, and start the window's clock on its first request: one command, atomic. (A redis-py pipeline of
# INCR + EXPIRE did the same in one round trip too, but its client-side machinery cost twice the CPU.)
_COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

# One registered script per connection pool (django-redis keeps one pool per Redis server and process): the
# script object only holds its SHA, and is run with whichever client the current cache object holds.
_scripts: dict = {}


def _count_in_window(client: redis.Redis, key: str, *, timeout: int) -> int:
    script = _scripts.get(client.connection_pool)
    if script is None:
        script = _scripts[client.connection_pool] = client.register_script(_COUNT_IN_WINDOW)
    return int(script(keys=[key], args=[timeout], client=client))


def _increment(cache_key: str, *, timeout: int) -> int:
    """Count one request in the window: one Redis round trip (a script: INCR, EXPIRE on the first), add/incr
    on other caches."""
    cache = caches[settings.API_THROTTLE_CACHE]
    if isinstance(cache, RedisCache):
        client = get_redis_connection(settings.API_THROTTLE_CACHE)
        return _count_in_window(client, cache.make_and_validate_key(cache_key), timeout=timeout)
    cache.add(cache_key, 0, timeout=timeout)
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=timeout)
        return 1
