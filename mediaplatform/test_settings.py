"""Settings for the test suite: the real services, on Redis databases and media folders of their own.

Values are set through the environment, so the worker and server processes
that the end-to-end tests start inherit the same configuration.
"""

import os
from pathlib import Path

_BASE = Path(__file__).resolve().parent.parent
os.environ.setdefault("CELERY_REDIS_DB", "14")
os.environ.setdefault("CHANNELS_REDIS_DB", "15")
os.environ.setdefault("CACHE_REDIS_DB", "13")  # rate-limit and sign-in counters start from zero each run
# The whole suite signs in from 127.0.0.1, failing on purpose here and there; the throttle's own tests
# set the limits they check.
os.environ.setdefault("SIGN_IN_MAX_FAILURES", "1000")
os.environ.setdefault("SIGN_IN_MAX_FAILURES_PER_ADDRESS", "100000")
os.environ.setdefault("CHANNELS_PREFIX", "mediaplatform-test")
os.environ.setdefault("MEDIA_ROOT", str(_BASE / "var" / "test-media"))
os.environ.setdefault("UPLOAD_STAGING_DIR", str(_BASE / "var" / "test-upload-staging"))
# An untrained network scores every class near 1e-5: a tiny threshold makes the
# real inference path produce rows to store, capped so tests stay small.
os.environ.setdefault("DETECTOR_CONFIDENCE", "0.000001")
os.environ.setdefault("DETECTOR_MAX_DETECTIONS", "20")
os.environ.setdefault("DETECTOR_IMAGE_SIZE", "160")
os.environ.setdefault("DETECTOR_DEVICE", "cpu")
os.environ.setdefault("PROGRESS_EVENT_MIN_INTERVAL_SECONDS", "0.05")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("LOG_FORMAT", "plain")
# The suite runs the untrained, seeded architecture (fast, deterministic); tests that need the
# trained default weights name them.
os.environ.setdefault("DETECTOR_WEIGHTS", "")

from mediaplatform.settings import *  # noqa: E402,F403

# DEBUG is off here as in production; static files come from the source folders, since the suite runs no
# collectstatic (`make run` and the image do).
WHITENOISE_USE_FINDERS = True

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
