"""The server processes freeze their start-up heap, so a full garbage collection has little left to walk."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEASURE = """
import gc, json, importlib
module = importlib.import_module({module!r})
print(json.dumps({{"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()),
                  "views_loaded": "videos.views" in __import__("sys").modules}}))
"""


@pytest.mark.parametrize("module", ["mediaplatform.wsgi", "mediaplatform.asgi"])
def test_loading_a_server_application_imports_the_views_and_freezes_what_it_loaded(module):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediaplatform.test_settings"}
    finished = subprocess.run(
        [sys.executable, "-c", MEASURE.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    heap = json.loads(finished.stdout.strip().splitlines()[-1])

    assert heap["views_loaded"], "the URLconf and its views are imported before the freeze, not at the first request"
    assert heap["frozen"] > 50_000, heap
    assert heap["tracked"] < heap["frozen"] / 100, heap  # what a full collection still walks
