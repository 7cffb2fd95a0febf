"""The settings module read as a fresh process reads it, with a controlled environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**variables: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURE_"))}
    env["DJANGO_SETTINGS_MODULE"] = "mediaplatform.settings"
    env.update(variables)
    script = "from django.conf import settings; print(settings.DEBUG, settings.DATABASE_POOL, len(settings.SECRET_KEY))"
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_booleans_parse_the_usual_spellings():
    done = load_settings(DJANGO_DEBUG="yes", DATABASE_POOL="off")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["True", "False"]


def test_an_unknown_boolean_stops_start_up_naming_the_variable():
    done = load_settings(DJANGO_DEBUG="yes please")
    assert done.returncode != 0
    assert 'Environment variable "DJANGO_DEBUG" invalid' in done.stderr


def test_a_number_that_does_not_parse_stops_start_up_naming_the_variable():
    done = load_settings(VIDEO_MAX_IN_FLIGHT_PER_USER="fifty")
    assert done.returncode != 0
    assert 'Environment variable "VIDEO_MAX_IN_FLIGHT_PER_USER" invalid' in done.stderr


def test_a_public_site_without_a_secret_key_refuses_to_start():
    done = load_settings(DJANGO_ALLOWED_HOSTS="media.example.com")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and "DJANGO_SECRET_KEY is not set" in done.stderr


def test_a_published_key_refuses_to_start_with_debug_off():
    for key in ("change-me-in-production", "django-insecure-local-development-key-change-me-in-production"):
        done = load_settings(DJANGO_SECRET_KEY=key, DJANGO_ALLOWED_HOSTS="media.example.com")
        assert done.returncode != 0
        assert "published example key" in done.stderr


def test_a_configured_key_starts():
    done = load_settings(DJANGO_SECRET_KEY="k" * 60, DJANGO_ALLOWED_HOSTS="media.example.com")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[2] == "60"


def test_a_loopback_site_keeps_one_local_key_across_starts():
    first = load_settings()
    second = load_settings()
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    key_file = ROOT / "var" / "secret_key"
    assert key_file.stat().st_mode & 0o077 == 0
    assert len(key_file.read_text().strip()) >= 50
