"""The production security block of mediaplatform/settings.py, evaluated as production evaluates it.

The settings module is imported in a subprocess with a production environment; its security values are
then applied to the test's own settings, so the requests below meet exactly what production would send.
"""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, override_settings

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "mediaplatform.settings",
    "DJANGO_DEBUG": "0",
    "DJANGO_HTTPS": "1",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "media.example.com",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}
SECURITY_SETTINGS = [
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_REDIRECT_EXEMPT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "X_FRAME_OPTIONS",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "CONTENT_SECURITY_POLICY",
    "CONTENT_SECURITY_POLICY_REPORT_ONLY",
    "PERMISSIONS_POLICY",
    "METRICS_TOKEN",
    "METRICS_PUBLIC",
]


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment (database, Redis), with the test settings' own choices taken out."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURE_"))}
    env.update(PRODUCTION_ENV)
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def production_values(env: dict[str, str]) -> dict:
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {SECURITY_SETTINGS!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    values = json.loads(done.stdout.strip().splitlines()[-1])
    if values["SECURE_PROXY_SSL_HEADER"]:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture(scope="module")
def production_settings() -> dict:
    return production_values(environment())


@pytest.fixture
def production(production_settings, db):
    with override_settings(**production_settings):
        yield production_settings


def test_check_deploy_is_clean_in_production():
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=environment())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout, done.stdout + done.stderr


def test_check_deploy_refuses_the_development_defaults():
    """DEBUG off but no HTTPS: the deploy check names each problem and fails. (Without a secret key such a site
    does not start at all: tests/mediaplatform/test_settings_environment.py.)"""
    done = manage("check", "--deploy", "--fail-level", "WARNING", env=environment(DJANGO_HTTPS="0"))
    assert done.returncode != 0
    found = set(re.findall(r"security\.W\d+", done.stdout + done.stderr))
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= found


def test_production_values(production_settings):
    assert production_settings["DEBUG"] is False
    assert production_settings["SECURE_SSL_REDIRECT"] is True
    assert production_settings["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert production_settings["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert production_settings["SESSION_COOKIE_SECURE"] and production_settings["CSRF_COOKIE_SECURE"]
    assert production_settings["X_FRAME_OPTIONS"] == "DENY"


def test_no_proxy_header_is_trusted_unless_named():
    assert production_values(environment(DJANGO_SECURE_PROXY_SSL_HEADER=""))["SECURE_PROXY_SSL_HEADER"] is None


def test_responses_carry_the_security_headers(production):
    response = Client().get("/accounts/login/", secure=True)
    assert response.status_code == 200
    hsts = response["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" in hsts
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "wss://testserver" in policy["connect-src"]


def test_api_responses_carry_them_too(production):
    response = Client().get("/api/v1/videos/", secure=True)
    assert response.status_code == 401
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in response and "Strict-Transport-Security" in response


def test_no_page_may_run_inline_scripts_or_styles_the_swagger_ui_included(production):
    for path in ("/api/docs/", "/accounts/login/", "/admin/login/"):
        policy = directives(Client().get(path, secure=True)["Content-Security-Policy"])
        assert "'unsafe-inline'" not in policy["script-src"], path
        assert "'unsafe-inline'" not in policy["style-src"], path


def test_plain_http_is_redirected_to_https_except_the_probes(production):
    client = Client()
    redirect = client.get("/accounts/login/")
    assert redirect.status_code == 301 and redirect["Location"] == "https://testserver/accounts/login/"
    assert client.get("/health/live").status_code == 200


def test_the_proxy_header_marks_a_request_secure(production):
    response = Client().get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert "Strict-Transport-Security" in response


def test_cookies_are_secure_httponly_and_samesite(production):
    user = UserFactory()
    client = Client()
    login_page = client.get("/accounts/login/", secure=True)
    csrf = login_page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["samesite"] == "Lax"
    assert not csrf["httponly"]  # the dashboard's scripts read it to send X-CSRFToken
    signed_in = client.post(
        "/accounts/login/",
        {"username": user.username, "password": "correct-horse-battery", "csrfmiddlewaretoken": csrf.value},
        secure=True,
    )
    assert signed_in.status_code == 302
    session = signed_in.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


TEMPLATES = ROOT / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER_ATTRIBUTE = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE)


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: path.name)
def test_templates_have_no_inline_scripts(template):
    """script-src 'self' blocks inline scripts and on* attributes: our templates must not need them."""
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "move the script to static/js"
    assert not EVENT_HANDLER_ATTRIBUTE.search(text), "bind the handler in static/js"


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: path.name)
def test_templates_have_no_inline_styles(template):
    """style-src without 'unsafe-inline' blocks <style> elements and style attributes: rules go in static/css."""
    text = template.read_text()
    assert not STYLE_ELEMENT.search(text), "move the rules to static/css"
    assert not STYLE_ATTRIBUTE.search(text), "use a class from static/css (or set element.style from static/js)"


def test_scripts_do_not_evaluate_strings():
    """script-src without 'unsafe-eval': eval, new Function and string timers would be blocked."""
    for script in (ROOT / "static" / "js").glob("*.js"):
        text = script.read_text()
        assert not re.search(r"\beval\(|new Function\(|set(?:Timeout|Interval)\(\s*[\"'`]", text), script.name


def test_scripts_write_no_inline_styles_into_markup():
    """Markup a script writes (innerHTML) is held to style-src too; element.style is not, so scripts use that."""
    for script in (ROOT / "static" / "js").glob("*.js"):
        text = script.read_text()
        assert not STYLE_ELEMENT.search(text) and not STYLE_ATTRIBUTE.search(text), script.name


def test_debug_is_off_unless_asked_for_and_an_unknown_url_gets_no_debug_page():
    """The settings as `make run` and docker compose load them, with no DJANGO_* variable at all: DEBUG is off, and
    an anonymous request for an unknown URL on the default host gets the branded 404, not the debug page that
    lists the URL configuration."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURE_"))}
    env["DJANGO_SETTINGS_MODULE"] = "mediaplatform.settings"
    script = (
        "import json, django; django.setup(); from django.conf import settings; from django.test import Client; "
        "response = Client().get('/no-such-page/', headers={'Host': '127.0.0.1:8000'}); "
        "print(json.dumps({'debug': settings.DEBUG, 'status': response.status_code, "
        "'page': response.content.decode()}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["debug"] is False
    assert answer["status"] == 404
    assert "Page not found" in answer["page"] and '<a class="brand"' in answer["page"]
    assert "Using the URLconf" not in answer["page"] and "mediaplatform.urls" not in answer["page"]


def test_metrics_are_closed_in_production_until_configured(production):
    assert (production["METRICS_TOKEN"], production["METRICS_PUBLIC"]) == ("", False)
    response = Client().get("/metrics", secure=True)
    assert response.status_code == 403
    assert "METRICS_TOKEN" in response.json()["error"]["message"]


def test_report_only_sends_the_same_policy_under_the_report_only_header(production):
    with override_settings(
        CONTENT_SECURITY_POLICY=None, CONTENT_SECURITY_POLICY_REPORT_ONLY=production["CONTENT_SECURITY_POLICY"]
    ):
        response = Client().get("/accounts/login/", secure=True)
    assert "Content-Security-Policy" not in response
    policy = directives(response["Content-Security-Policy-Report-Only"])
    assert policy["script-src"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["connect-src"] == ["'self'", "wss://testserver"]
