"""The sign-in page, with failed attempts counted so passwords cannot be guessed at speed.

Failures are counted in the shared cache (Redis) per address and username, and per address alone (one
address trying many usernames), over a fixed window. Over either limit the page answers 429 with
Retry-After and does not even check the password, so a correct guess in a blocked window gains nothing.
A successful sign-in clears its address-and-username count. The admin's sign-in and the API's token endpoint
(accounts.views) count in the same counters, so a lockout earned on one holds on the others. The token endpoint
is also rate limited per username tried, from any address (SignInUsernameThrottle).
"""

import hashlib
import logging

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.shortcuts import render

from mediaplatform.api.throttling import RedisRateThrottle

logger = logging.getLogger(__name__)


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]
    return f"sign-in-failures:{digest}"


def _keys(*, address: str, username: str) -> tuple[str, str]:
    return _key("pair", address, username.strip().lower()), _key("address", address)


def sign_in_blocked(*, address: str, username: str) -> bool:
    pair_key, address_key = _keys(address=address, username=username)
    counts = cache.get_many([pair_key, address_key])
    return (
        counts.get(pair_key, 0) >= settings.SIGN_IN_MAX_FAILURES
        or counts.get(address_key, 0) >= settings.SIGN_IN_MAX_FAILURES_PER_ADDRESS
    )


def sign_in_failure_record(*, address: str, username: str) -> None:
    for key in _keys(address=address, username=username):
        cache.add(key, 0, timeout=settings.SIGN_IN_FAILURE_WINDOW_SECONDS)  # the window starts at the first one
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr: this failure opens a new window
            cache.set(key, 1, timeout=settings.SIGN_IN_FAILURE_WINDOW_SECONDS)


def sign_in_success_reset(*, address: str, username: str) -> None:
    pair_key, _ = _keys(address=address, username=username)
    cache.delete(pair_key)


class ThrottledLoginView(auth_views.LoginView):
    def post(self, request, *args, **kwargs):
        address = request.META.get("REMOTE_ADDR", "")
        username = request.POST.get("username", "")
        if sign_in_blocked(address=address, username=username):
            return _refused(request, username, address)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        sign_in_failure_record(
            address=self.request.META.get("REMOTE_ADDR", ""), username=self.request.POST.get("username", "")
        )
        return super().form_invalid(form)

    def form_valid(self, form):
        sign_in_success_reset(
            address=self.request.META.get("REMOTE_ADDR", ""), username=self.request.POST.get("username", "")
        )
        return super().form_valid(form)


def _refused(request, username: str, address: str):
    logger.warning("sign-in refused for %r from %s: too many failed attempts", username[:150], address)
    form = AuthenticationForm(request)  # unbound: rendering it must not check the password
    response = render(request, "registration/login.html", {"form": form, "throttled": True}, status=429)
    response["Retry-After"] = str(settings.SIGN_IN_FAILURE_WINDOW_SECONDS)
    return response


def throttled_admin_login(request, **kwargs):
    """The admin's sign-in, counted like the sign-in page: a re-rendered form is a failure, a redirect a success."""
    if request.method != "POST":
        return admin.site.login(request, **kwargs)
    address, username = request.META.get("REMOTE_ADDR", ""), request.POST.get("username", "")
    if sign_in_blocked(address=address, username=username):
        return _refused(request, username, address)
    response = admin.site.login(request, **kwargs)
    if response.status_code == 200:
        sign_in_failure_record(address=address, username=username)
    elif 300 <= response.status_code < 400:
        sign_in_success_reset(address=address, username=username)
    return response


def attempted_username(request) -> str:
    """The username a sign-in request tries, as the sign-in failure counter keys it."""
    data = request.data if hasattr(request, "data") else request.POST
    value = data.get("username", "") if hasattr(data, "get") else ""
    return value if isinstance(value, str) else ""


class SignInUsernameThrottle(RedisRateThrottle):
    """Sign-in attempts per username tried, from any address: guessing one account's password from many
    addresses goes no faster than API_RATE_LIMITS["sign_in_username"]."""

    def identity(self, request) -> tuple[str, str]:
        username = attempted_username(request).strip().lower()
        digest = hashlib.sha256(username.encode()).hexdigest()[:32]
        return "sign_in_username", f"sign-in-username:{digest}"
