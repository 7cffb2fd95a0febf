"""Models and migrations agree: `makemigrations --check` finds nothing to write, and would fail if it did."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_models_and_migrations_agree(capsys):
    # Exits with status 1 (SystemExit) when any app's models differ from its migrations.
    call_command("makemigrations", "--check", "--dry-run", verbosity=1)
    assert "No changes detected" in capsys.readouterr().out


def test_the_check_fails_on_a_drifted_model():
    # A model field changed without its migration, in a process of its own so this one's models stay as they are.
    drifted = textwrap.dedent(
        """
        import django
        django.setup()
        from django.db import models
        from videos.models import MediaAnalysisRequest
        field = models.CharField(max_length=10, blank=True)
        field.contribute_to_class(MediaAnalysisRequest, "drifted_without_migration")
        from django.core.management import call_command
        call_command("makemigrations", "--check", "--dry-run", verbosity=1)
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediaplatform.test_settings"}
    result = subprocess.run(
        [sys.executable, "-c", drifted], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "drifted_without_migration" in result.stdout
