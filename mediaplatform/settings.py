"""Settings for mediaplatform, read from the environment with local defaults.

Every value a deployment may want to change is an environment variable; the
defaults run the platform on one machine against local PostgreSQL and Redis.
"""

import os
import secrets
import tomllib
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from environs import Env

BASE_DIR = Path(__file__).resolve().parent.parent

# Typed parsing: a value that does not parse (DJANGO_DEBUG="yes please", a word where a number belongs) stops
# start-up with an error naming the variable, instead of silently becoming False or the default.
env = Env(eager=True)


@env.parser_for("names")
def _comma_separated_names(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# Off unless asked for: the debug page shows settings and the URL configuration to anyone who finds an error.
DEBUG = env.bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env.names("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

# Keys that were published as examples or defaults: a deployment using one signs its sessions with a public key.
PUBLISHED_SECRET_KEYS = frozenset(
    {"change-me-in-production", "django-insecure-local-development-key-change-me-in-production"}
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1", "testserver"})
LOCAL_SECRET_KEY_FILE = BASE_DIR / "var" / "secret_key"


def local_secret_key(path: Path) -> str:
    """A key made once for this checkout and kept in var/ (mode 0600), shared by every local process.

    Written to a temporary file and linked into place, so processes starting together all read one key."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = path.with_name(f".{path.name}.{os.getpid()}")
    with os.fdopen(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as key_file:
        key_file.write(secrets.token_urlsafe(50))
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return path.read_text().strip()


def choose_secret_key(*, configured: str, debug: bool, allowed_hosts: list[str]) -> str:
    """DJANGO_SECRET_KEY when set. Without it, a site answering only on loopback names (`make run`, the test
    suite) gets a key of its own in var/; any other site refuses to start, as does a published key with DEBUG
    off."""
    if configured:
        if not debug and configured in PUBLISHED_SECRET_KEYS:
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is a published example key: set it to a long random value "
                "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
            )
        return configured
    if debug or set(allowed_hosts) <= LOOPBACK_HOSTS:
        return local_secret_key(LOCAL_SECRET_KEY_FILE)
    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY is not set and DJANGO_ALLOWED_HOSTS ({', '.join(allowed_hosts)}) reaches beyond "
        "this machine: set DJANGO_SECRET_KEY to a long random value "
        "(python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )


SECRET_KEY = choose_secret_key(configured=env.str("DJANGO_SECRET_KEY", ""), debug=DEBUG, allowed_hosts=ALLOWED_HOSTS)
CSRF_TRUSTED_ORIGINS = env.names("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "accounts",
    "csp",
    "mediaplatform",
    "videos",
    "processing",
    "notifications",
    "audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "mediaplatform.security_headers.ContentSecurityPolicyMiddleware",  # django-csp (security block below)
    "mediaplatform.security_headers.PermissionsPolicyMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mediaplatform.database_unavailable.DatabaseUnavailableMiddleware",  # 503 + Retry-After, not 500
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mediaplatform.urls"
ASGI_APPLICATION = "mediaplatform.asgi.application"
WSGI_APPLICATION = "mediaplatform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "processing.context_processors.demo_model",
            ],
        },
    },
]

# PostgreSQL through psycopg 3 and its connection pool. Every web and worker process keeps a small pool, so
# connections stay bounded per process.
DATABASE_POOL = env.bool("DATABASE_POOL", True)
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", 10)
# How long a request waits for a pooled connection before it answers 503 (the database is down or saturated).
DATABASE_POOL_TIMEOUT_SECONDS = env.float("DATABASE_POOL_TIMEOUT_SECONDS", 5.0)
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", True)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": env.str("DATABASE_NAME", "mediaplatform"),
        "USER": env.str("DATABASE_USER", "postgres"),
        "PASSWORD": env.str("DATABASE_PASSWORD", ""),
        "HOST": env.str("DATABASE_HOST", "127.0.0.1"),
        "PORT": env.str("DATABASE_PORT", "5432"),
        "OPTIONS": {
            # A statement a pooled connection has run five times is prepared, so PostgreSQL stops planning it
            # and psycopg stops quoting its parameters into the SQL: the API's reads spent more time planning
            # than executing (bench/api.py). Off (0) behind a transaction-pooling PgBouncer.
            **({"server_side_binding": True, "prepare_threshold": 5} if DATABASE_PREPARED_STATEMENTS else {}),
            **(
                {"pool": {"min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": DATABASE_POOL_TIMEOUT_SECONDS}}
                if DATABASE_POOL
                else {}
            ),
        },
        # test_<name>, so test runs against differently named databases never share one.
        "TEST": {"NAME": env.str("DATABASE_TEST_NAME", f"test_{env.str('DATABASE_NAME', 'mediaplatform')}")},
    }
}

# Requests inside Django at once per server process (each holds a pooled connection until its response
# is closed); the rest wait their turn, and get 503 + Retry-After after HTTP_ADMISSION_TIMEOUT_SECONDS.
HTTP_MAX_CONCURRENT_REQUESTS = env.int("HTTP_MAX_CONCURRENT_REQUESTS", DATABASE_POOL_MAX_SIZE)
HTTP_ADMISSION_TIMEOUT_SECONDS = env.float("HTTP_ADMISSION_TIMEOUT_SECONDS", 30.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "media/"
# What a player loads comes as a signed URL that nginx serves without asking Django (videos/media_signing.py):
# valid for at least MEDIA_SIGNED_URL_SECONDS, its expiry rounded up to a window so a file's URL stays the same
# (and cached) for that long. The secret is derived from SECRET_KEY unless given.
MEDIA_SIGNING_SECRET = env.str("MEDIA_SIGNING_SECRET", "")
MEDIA_SIGNED_URL_SECONDS = env.int("MEDIA_SIGNED_URL_SECONDS", 2 * 3600)
MEDIA_SIGNED_URL_WINDOW_SECONDS = env.int("MEDIA_SIGNED_URL_WINDOW_SECONDS", 1800)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
# From the object store, a permission-checked media route (the original's download, a playback file, an annotated
# video) answers with a 302 to a presigned URL valid this long: enough to start and finish a download or a
# viewing, short enough that a copied link soon stops working.
MEDIA_REDIRECT_URL_SECONDS = env.int("MEDIA_REDIRECT_URL_SECONDS", 15 * 60)

# Where media lives (originals, renditions, posters, thumbnails, annotated videos, model weights): the local
# filesystem under MEDIA_ROOT, or any S3-compatible object store, so that workers on other hosts need no shared
# folder. Only videos/media_store.py knows which; everything else goes through Django's storage API and it.
MEDIA_STORAGE = env.str("MEDIA_STORAGE", "local", validate=lambda value: value in {"local", "s3"})
MEDIA_S3_BUCKET = env.str("MEDIA_S3_BUCKET", "")
MEDIA_S3_ENDPOINT_URL = env.str("MEDIA_S3_ENDPOINT_URL", "") or None
# The address browsers use for presigned URLs, when it differs from the one the platform talks to (a store on
# an internal network behind a public name); signing needs no request, so nothing reaches it from here.
MEDIA_S3_PUBLIC_ENDPOINT_URL = env.str("MEDIA_S3_PUBLIC_ENDPOINT_URL", "") or None
MEDIA_S3_REGION = env.str("MEDIA_S3_REGION", "us-east-1")
MEDIA_S3_ACCESS_KEY_ID = env.str("MEDIA_S3_ACCESS_KEY_ID", "") or None
MEDIA_S3_SECRET_ACCESS_KEY = env.str("MEDIA_S3_SECRET_ACCESS_KEY", "") or None
MEDIA_S3_PREFIX = env.str("MEDIA_S3_PREFIX", "").strip("/")
MEDIA_S3_ADDRESSING_STYLE = env.str("MEDIA_S3_ADDRESSING_STYLE", "path")
MEDIA_S3_CONNECT_TIMEOUT_SECONDS = env.float("MEDIA_S3_CONNECT_TIMEOUT_SECONDS", 5.0)
MEDIA_S3_READ_TIMEOUT_SECONDS = env.float("MEDIA_S3_READ_TIMEOUT_SECONDS", 30.0)
# A worker reading from the object store copies the source into this folder for the job's length (removed when
# the job ends, and by the worker's start-up sweep after a kill); it refuses a copy that would leave less than
# MEDIA_SCRATCH_MIN_FREE_BYTES free on that disk.
MEDIA_SCRATCH_DIR = Path(env.str("MEDIA_SCRATCH_DIR", str(BASE_DIR / "var" / "scratch")))
MEDIA_SCRATCH_MIN_FREE_BYTES = env.int("MEDIA_SCRATCH_MIN_FREE_BYTES", 1024**3)
# Model weights copied from the object store, kept by content hash so a worker fetches each file once.
MEDIA_WEIGHTS_CACHE_DIR = Path(env.str("MEDIA_WEIGHTS_CACHE_DIR", str(BASE_DIR / "var" / "weights-cache")))

if MEDIA_STORAGE == "s3":
    if not MEDIA_S3_BUCKET:
        raise ImproperlyConfigured("MEDIA_STORAGE=s3 needs MEDIA_S3_BUCKET")
    from botocore.config import Config as _S3ClientConfig

    _MEDIA_STORAGE_BACKEND = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": MEDIA_S3_BUCKET,
            "endpoint_url": MEDIA_S3_ENDPOINT_URL,
            "region_name": MEDIA_S3_REGION,
            "access_key": MEDIA_S3_ACCESS_KEY_ID,
            "secret_key": MEDIA_S3_SECRET_ACCESS_KEY,
            "location": MEDIA_S3_PREFIX,
            "addressing_style": MEDIA_S3_ADDRESSING_STYLE,
            "signature_version": "s3v4",
            # Objects are private: every read is a presigned URL handed out after the permission check.
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env.int("MEDIA_SIGNED_URL_SECONDS", 2 * 3600),
            # Same rule as the filesystem: an upload never replaces another object under the same name.
            "file_overwrite": False,
            # Bounded waits, so a store that stops answering fails a step (retried later) instead of hanging it.
            "client_config": _S3ClientConfig(
                connect_timeout=MEDIA_S3_CONNECT_TIMEOUT_SECONDS,
                read_timeout=MEDIA_S3_READ_TIMEOUT_SECONDS,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": MEDIA_S3_ADDRESSING_STYLE},
                signature_version="s3v4",
            ),
        },
    }
else:
    # No fixed location: it follows MEDIA_ROOT, also where a test moves it.
    _MEDIA_STORAGE_BACKEND = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _MEDIA_STORAGE_BACKEND,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


def _media_store_browser_origins() -> list[str]:
    """Where browsers fetch media from the object store (presigned URLs' scheme and host), for the CSP."""
    if MEDIA_STORAGE != "s3":
        return []
    endpoint = MEDIA_S3_PUBLIC_ENDPOINT_URL or MEDIA_S3_ENDPOINT_URL
    if endpoint:
        parts = urlsplit(endpoint)
        host = f"{MEDIA_S3_BUCKET}.{parts.netloc}" if MEDIA_S3_ADDRESSING_STYLE == "virtual" else parts.netloc
        return [f"{parts.scheme}://{host}"]
    # Amazon S3 itself: the regional endpoint, by path or with the bucket as a subdomain.
    return [
        f"https://s3.{MEDIA_S3_REGION}.amazonaws.com",
        f"https://{MEDIA_S3_BUCKET}.s3.{MEDIA_S3_REGION}.amazonaws.com",
    ]


# The object store's origin(s), allowed as a source of images and media by the Content-Security-Policy below;
# MEDIA_S3_BROWSER_ORIGINS (comma-separated) names them when the rule above does not (a CDN in front, say).
MEDIA_STORE_BROWSER_ORIGINS = env.list("MEDIA_S3_BROWSER_ORIGINS", []) or _media_store_browser_origins()

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Uploads always stream to a temporary file on disk while being hashed; the
# request body is never held in memory.
FILE_UPLOAD_HANDLERS = ["videos.upload_handlers.HashingTemporaryFileUploadHandler"]
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", "") or None
VIDEO_MAX_UPLOAD_BYTES = env.int("VIDEO_MAX_UPLOAD_BYTES", 2 * 1024**3)
# Back-pressure: an owner with this many videos not yet completed or failed gets 429 (0: no limit).
VIDEO_MAX_IN_FLIGHT_PER_USER = env.int("VIDEO_MAX_IN_FLIGHT_PER_USER", 50)
VIDEO_IN_FLIGHT_RETRY_AFTER_SECONDS = env.int("VIDEO_IN_FLIGHT_RETRY_AFTER_SECONDS", 30)
# Resumable uploads open per user at once, and the bytes they declare together (0: no limit): past either a
# new session answers 429 with Retry-After, so disk space cannot be reserved without end.
UPLOAD_MAX_OPEN_SESSIONS_PER_USER = env.int("UPLOAD_MAX_OPEN_SESSIONS_PER_USER", 10)
UPLOAD_MAX_OPEN_BYTES_PER_USER = env.int("UPLOAD_MAX_OPEN_BYTES_PER_USER", 4 * VIDEO_MAX_UPLOAD_BYTES)
UPLOAD_SESSIONS_RETRY_AFTER_SECONDS = env.int("UPLOAD_SESSIONS_RETRY_AFTER_SECONDS", 60)
# Resumable upload sessions (videos.services.chunked_upload) collect their bytes on this host's disk, never in
# media: when the last byte is in, the file goes into the media store once (a rename on the same filesystem,
# a streamed multipart upload to the object store) and the session folder is removed.
UPLOAD_STAGING_DIR = Path(env.str("UPLOAD_STAGING_DIR", str(BASE_DIR / "var" / "upload-staging")))
# Reference annotations are read into memory to be parsed; MOT lines are ~40 bytes, so 32 MiB is ~800,000 boxes.
REFERENCE_IMPORT_MAX_BYTES = env.int("REFERENCE_IMPORT_MAX_BYTES", 32 * 1024**2)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2

REDIS_URL = env.str("REDIS_URL", "redis://127.0.0.1:6379")
CELERY_REDIS_DB = env.int("CELERY_REDIS_DB", 0)
CHANNELS_REDIS_DB = env.int("CHANNELS_REDIS_DB", 1)

# Channel layer, chosen by measurement (bench/events.py; figures in the README).
# "pubsub" publishes each group message once and re-subscribes by itself after
# Redis restarts; "core" stores group membership and per-channel queues in
# Redis. Redis pub/sub ignores the database number: the prefix isolates.
CHANNEL_LAYER_BACKEND = env.str("CHANNEL_LAYER_BACKEND", "pubsub")
_CHANNEL_LAYER_CONFIGS = {
    "pubsub": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [f"{REDIS_URL}/{CHANNELS_REDIS_DB}"],
            "prefix": env.str("CHANNELS_PREFIX", "mediaplatform"),
        },
    },
    "core": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [f"{REDIS_URL}/{CHANNELS_REDIS_DB}"],
            "prefix": env.str("CHANNELS_PREFIX", "mediaplatform"),
            "capacity": 1000,
            "expiry": 60,
        },
    },
}
CHANNEL_LAYERS = {"default": _CHANNEL_LAYER_CONFIGS[CHANNEL_LAYER_BACKEND]}

# Celery: a task is acknowledged only once it has finished, so a worker that
# dies mid-video leaves the message to be delivered again. The visibility
# timeout must outlast the longest video job or Redis redelivers live work.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", f"{REDIS_URL}/{CELERY_REDIS_DB}")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Runs carry a priority (processing.models.BROKER_PRIORITIES): kombu's Redis transport keeps one list per step
# and a worker pops the lowest step first, so an urgent run waiting behind normal ones starts next.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 6 * 3600),
    "priority_steps": [0, 3, 6, 9],
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"processing.tasks.process_video": {"queue": "inference"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Every scheduled task, by the name the admin shows under Periodic tasks. Written into django-celery-beat's tables
# after each migrate and when beat starts (mediaplatform.beat): task and schedule follow this table, `enabled`
# stays as staff set it in the admin.
CELERY_BEAT_SCHEDULE = {
    "notifications: deliver pending outbox events": {
        "task": "notifications.tasks.deliver_pending_events",
        "schedule": timedelta(seconds=30),
        "description": "Delivers events the after-commit path left behind (a crash, Redis down).",
    },
    "notifications: purge old outbox events": {
        "task": "notifications.tasks.purge_outbox",
        "schedule": timedelta(hours=1),
        "description": "Deletes delivered outbox events past retention; older resumes get a snapshot.",
    },
    "processing: requeue stuck jobs": {
        "task": "processing.tasks.requeue_stuck_jobs",
        "schedule": timedelta(seconds=60),
        "description": "Hands jobs whose worker died (stale heartbeat) or whose retry was lost to a live worker.",
    },
    "notifications: evaluate alert thresholds": {
        "task": "notifications.tasks.evaluate_alerts",
        "schedule": timedelta(seconds=60),
        "description": "Opens an alert for each figure over its ALERT_* threshold, resolves those back under it.",
    },
    "processing: requeue lost analysis downloads": {
        "task": "processing.tasks.requeue_lost_analysis_fetches",
        "schedule": timedelta(seconds=60),
        "description": "Sends again the media analysis downloads whose task was lost; fails them after 3 tries.",
    },
    "processing: daily retention cleanup": {
        "task": "processing.tasks.retention_cleanup",
        "schedule": crontab(minute="30", hour="3"),
        "description": "Archives, deletes and purges by the RETENTION_* settings.",
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.RoleAccess"],
    # DRF's JSONParser recursed on a deeply nested body (RecursionError, a 500); this one caps the depth.
    "DEFAULT_PARSER_CLASSES": [
        "mediaplatform.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "mediaplatform.api.pagination.PagePagination",
    "DEFAULT_SCHEMA_CLASS": "mediaplatform.api.schema.DocumentedErrorsAutoSchema",
    "EXCEPTION_HANDLER": "mediaplatform.api.errors.api_exception_handler",
    "PAGE_SIZE": 25,
    "DEFAULT_THROTTLE_CLASSES": ["mediaplatform.api.throttling.RedisRateThrottle"],
}

# The Django cache lives in Redis: API rate-limit counters are shared by every server process.
CACHE_REDIS_DB = env.int("CACHE_REDIS_DB", 2)
CACHES = {
    "default": {
        # django-redis keeps one connection pool per Redis server and process, whatever the number of cache
        # objects (Django's handler makes one per thread, and one per request context under ASGI).
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": f"{REDIS_URL}/{CACHE_REDIS_DB}",
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", "mp"),
    }
}
API_THROTTLE_CACHE = "default"
# Failed sign-ins on the sign-in page, per address and username and per address alone, within the window.
SIGN_IN_MAX_FAILURES = env.int("SIGN_IN_MAX_FAILURES", 5)
SIGN_IN_MAX_FAILURES_PER_ADDRESS = env.int("SIGN_IN_MAX_FAILURES_PER_ADDRESS", 30)
SIGN_IN_FAILURE_WINDOW_SECONDS = env.int("SIGN_IN_FAILURE_WINDOW_SECONDS", 900)
# API keys that authenticated are remembered this long in each server process: revoking a key or deactivating
# its user takes effect at once in the process that did it, and within this many seconds in every other one.
API_KEY_AUTH_CACHE_SECONDS = env.float("API_KEY_AUTH_CACHE_SECONDS", 5.0)
API_RATE_LIMITS = {
    "key": env.str("API_RATE_LIMIT_KEY", "1200/min"),
    "user": env.str("API_RATE_LIMIT_USER", "1200/min"),
    "anon": env.str("API_RATE_LIMIT_ANON", "60/min"),
    # Token endpoint attempts per username tried, whatever the address (the address has the anon rate).
    "sign_in_username": env.str("API_RATE_LIMIT_SIGN_IN_USERNAME", "20/min"),
}
# API tokens (`Authorization: Token`) expire this many days after they are issued; 0: never.
API_TOKEN_TTL_DAYS = env.float("API_TOKEN_TTL_DAYS", 90.0)
# Websocket tickets (POST /api/v1/ws-ticket/): single use, valid this long.
WS_TICKET_TTL_SECONDS = env.int("WS_TICKET_TTL_SECONDS", 30)

# Importing videos by URL: where downloads may come from and how much they may take.
# Networks (CIDR) a source_url may resolve to although not public, e.g. "127.0.0.0/8" in tests. Metadata
# addresses (169.254.169.254, fd00:ec2::254) are refused whatever this says.
URL_IMPORT_ALLOWED_NETWORKS = env.names("URL_IMPORT_ALLOWED_NETWORKS", "")
# One deadline for the whole download (every hop, connect, headers and body), checked on every socket read.
URL_IMPORT_TIMEOUT_SECONDS = env.float("URL_IMPORT_TIMEOUT_SECONDS", 60.0)
URL_IMPORT_MAX_REDIRECTS = env.int("URL_IMPORT_MAX_REDIRECTS", 5)

SPECTACULAR_SETTINGS = {
    "TITLE": "mediaplatform API",
    "DESCRIPTION": "Upload videos, follow their processing and read the detected objects.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets come from drf-spectacular-sidecar, served as our own static files (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "WorkflowStateEnum": "videos.models.WorkflowState",
        "JobStatusEnum": "processing.models.JobStatus",
        "StageEnum": "processing.models.Stage",
        "PriorityEnum": "videos.models.Priority",
        "AnalysisStatusEnum": "processing.media_api.STATUS_VALUES",
    },
}

# Object detection. Weights are always loaded from a path on disk: nothing is
# fetched at run time. The default is the project's own offline-trained model;
# DETECTOR_WEIGHTS="" builds the untrained architecture instead.
DETECTOR_WEIGHTS = env.str("DETECTOR_WEIGHTS", str(BASE_DIR / "processing" / "weights" / "default-detector.pt"))
DETECTOR_ARCHITECTURE = env.str("DETECTOR_ARCHITECTURE", "yolov8n.yaml")
DETECTOR_IMAGE_SIZE = env.int("DETECTOR_IMAGE_SIZE", 256)  # the default weights were trained at 256 px
DETECTOR_CONFIDENCE = env.float("DETECTOR_CONFIDENCE", 0.4)  # held-out P/R >= 0.9 on every seed tried
DETECTOR_MAX_DETECTIONS = env.int("DETECTOR_MAX_DETECTIONS", 300)
DETECTOR_IOU_THRESHOLD = env.float("DETECTOR_IOU_THRESHOLD", 0.7)
DETECTOR_BATCH_SIZE = env.int("DETECTOR_BATCH_SIZE", 0)  # 0: chosen by device
# "auto": on CPU, the backend and precision measured fastest among PyTorch, ONNX Runtime and OpenVINO
# (f32/bf16/int8) whose detections agree with f32, per weights, input shape and host; PyTorch fp16 on CUDA.
# "torch", "onnx" or "openvino" fix it. Exports are cached once per weights, input shape and precision.
DETECTOR_BACKEND = env.str("DETECTOR_BACKEND", "auto")
DETECTOR_PRECISION = env.str("DETECTOR_PRECISION", "")  # openvino: f32, bf16 or int8; "" bf16 where the CPU has it
# Jobs one host runs at once (the inference workers' concurrency): each job's model takes its share of the cores.
DETECTOR_CONCURRENT_JOBS = env.int("DETECTOR_CONCURRENT_JOBS", 1)
DETECTOR_ONNX_CACHE_DIR = env.str("DETECTOR_ONNX_CACHE_DIR", str(BASE_DIR / "var" / "onnx-cache"))
DETECTOR_CPU_THREADS = env.int("DETECTOR_CPU_THREADS", 0)  # 0: all cores for ONNX, all but one for PyTorch
DETECTOR_DEVICE = env.str("DETECTOR_DEVICE", "")  # "" picks cuda:0 when present, else cpu
DEFAULT_FRAME_STEP = env.int("DEFAULT_FRAME_STEP", 1)
PROGRESS_EVENT_MIN_INTERVAL_SECONDS = env.float("PROGRESS_EVENT_MIN_INTERVAL_SECONDS", 0.25)
FRAME_QUEUE_BATCHES = env.int("FRAME_QUEUE_BATCHES", 2)  # decoded frames waiting for the model, in batches
REUSE_IDENTICAL_UPLOADS = env.bool("REUSE_IDENTICAL_UPLOADS", True)
# Playback: a source browsers cannot play gets an H.264 rendition (processing/renditions.py); README: Playback.
RENDITIONS_ENABLED = env.bool("RENDITIONS_ENABLED", True)
RENDITION_ALWAYS = env.bool("RENDITION_ALWAYS", False)  # also for playable sources (benchmarks, tests)
RENDITION_PRESET = env.str("RENDITION_PRESET", "ultrafast")
RENDITION_CRF = env.int("RENDITION_CRF", 23)
THUMBNAIL_INTERVAL_SECONDS = env.float("THUMBNAIL_INTERVAL_SECONDS", 2.0)
THUMBNAIL_MAX_TILES = env.int("THUMBNAIL_MAX_TILES", 100)
STUCK_JOB_SECONDS = env.float("STUCK_JOB_SECONDS", 180.0)  # a running job silent this long has lost its worker
# A message for a job that another runner still holds comes back after this long (the runner is stopping).
JOB_BUSY_REQUEUE_SECONDS = env.float("JOB_BUSY_REQUEUE_SECONDS", 1.0)
HEALTH_WORKER_PING_TIMEOUT_SECONDS = env.float("HEALTH_WORKER_PING_TIMEOUT_SECONDS", 1.0)
# Retention: how long each kind of row and file is kept, applied daily by celery beat and by `manage.py cleanup`.
RETENTION_ARCHIVE_COMPLETED_DAYS = env.float("RETENTION_ARCHIVE_COMPLETED_DAYS", 90.0)
RETENTION_DELETE_FAILED_DAYS = env.float("RETENTION_DELETE_FAILED_DAYS", 30.0)
RETENTION_PURGE_DELETED_DAYS = env.float("RETENTION_PURGE_DELETED_DAYS", 7.0)
RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS = env.float("RETENTION_PURGE_SENT_NOTIFICATIONS_DAYS", 7.0)
RETENTION_PURGE_ERROR_LOGS_DAYS = env.float("RETENTION_PURGE_ERROR_LOGS_DAYS", 180.0)
RETENTION_ORPHAN_GRACE_SECONDS = env.float("RETENTION_ORPHAN_GRACE_SECONDS", 3600.0)
# The whole POST (connect, request, status, headers and the logged excerpt of the body) within this many seconds.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
# Webhook endpoints one user may register (0: no limit): each event is POSTed to every one of them.
WEBHOOK_MAX_ENDPOINTS_PER_USER = env.int("WEBHOOK_MAX_ENDPOINTS_PER_USER", 20)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", 6)
WEBHOOK_BACKOFF_BASE_SECONDS = env.float("WEBHOOK_BACKOFF_BASE_SECONDS", 30.0)
METRICS_TOKEN = env.str("METRICS_TOKEN", "")  # when set, /metrics wants "Authorization: Bearer <token>"
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", False)  # without a token /metrics answers 403 unless this opens it
DETECTOR_TRACKER = env.str("DETECTOR_TRACKER", "bytetrack.yaml")


# What /health/ready reports as the running version: the release's own, else pyproject.toml's.
def _project_version() -> str:
    try:
        return tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


PLATFORM_VERSION = env.str("PLATFORM_VERSION", "") or _project_version()
# Alerts (notifications.services.alerts, every minute on beat): a figure over its warning threshold opens an
# alert, over its critical one makes it critical, back under the warning threshold resolves it. Rates are shares of
# the jobs that finished within ALERT_WINDOW_SECONDS. deploy/prometheus/alerts.yml holds the same defaults.
ALERT_WINDOW_SECONDS = env.int("ALERT_WINDOW_SECONDS", 3600)
ALERT_FAILED_RATE_WARNING = env.float("ALERT_FAILED_RATE_WARNING", 0.05)
ALERT_FAILED_RATE_CRITICAL = env.float("ALERT_FAILED_RATE_CRITICAL", 0.15)
ALERT_ERROR_RATE_WARNING = env.float("ALERT_ERROR_RATE_WARNING", 0.02)
ALERT_ERROR_RATE_CRITICAL = env.float("ALERT_ERROR_RATE_CRITICAL", 0.10)
ALERT_QUEUE_BACKLOG_WARNING = env.int("ALERT_QUEUE_BACKLOG_WARNING", 100)
ALERT_QUEUE_BACKLOG_CRITICAL = env.int("ALERT_QUEUE_BACKLOG_CRITICAL", 500)
ALERT_QUEUE_AGE_WARNING_SECONDS = env.float("ALERT_QUEUE_AGE_WARNING_SECONDS", 300.0)
ALERT_QUEUE_AGE_CRITICAL_SECONDS = env.float("ALERT_QUEUE_AGE_CRITICAL_SECONDS", 900.0)
ALERT_PROCESSING_TIME_WARNING_SECONDS = env.float("ALERT_PROCESSING_TIME_WARNING_SECONDS", 300.0)
ALERT_PROCESSING_TIME_CRITICAL_SECONDS = env.float("ALERT_PROCESSING_TIME_CRITICAL_SECONDS", 600.0)
# Alert emails go to active staff users with an address; the console backend prints them (make run).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "mediaplatform@localhost")

# Validation limits: anything beyond is refused with a specific error code.
VIDEO_MAX_DURATION_SECONDS = env.float("VIDEO_MAX_DURATION_SECONDS", 4.0 * 3600)
VIDEO_MAX_WIDTH = env.int("VIDEO_MAX_WIDTH", 7680)
VIDEO_MAX_HEIGHT = env.int("VIDEO_MAX_HEIGHT", 4320)
VIDEO_MAX_FRAME_COUNT = env.int("VIDEO_MAX_FRAME_COUNT", 2_000_000)

# Recovery from processing failures (processing.services.failures): delays in seconds.
RETRY_NETWORK_BACKOFF_BASE_SECONDS = env.float("RETRY_NETWORK_BACKOFF_BASE_SECONDS", 60.0)
RETRY_RESOURCE_DELAY_SECONDS = env.float("RETRY_RESOURCE_DELAY_SECONDS", 300.0)
RETRY_DATABASE_BACKOFF_STEP_SECONDS = env.float("RETRY_DATABASE_BACKOFF_STEP_SECONDS", 5.0)

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "false")
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("YOLO_CONFIG_DIR", str(BASE_DIR / "var" / "ultralytics"))
# Forced, not defaulted: ultralytics reads it once at import, and without it a weights file is fully unpickled
# (its code runs). processing.weights_loading also sets it on the imported modules before every load.
os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"

# One JSON object per line with the request id (LOG_FORMAT=plain for a human-readable console).
LOG_FORMAT = env.str("LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "mediaplatform.logging.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "mediaplatform.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}


# =====================================================================================================
# Production security. One block, every value from the environment; `manage.py check --deploy`
# is clean with DJANGO_DEBUG=0, DJANGO_HTTPS=1, a long random DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS.
# =====================================================================================================
# DJANGO_HTTPS=1: browsers reach the site over HTTPS (TLS here, or at a proxy in front). Off by default,
# so `make run`, docker compose and the benches keep working on plain http://127.0.0.1; check --deploy
# warns until it is on.
HTTPS = env.bool("DJANGO_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS and env.bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]  # probes from inside the network speak plain HTTP
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 3600) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", True)
# Behind a TLS-terminating proxy, name the header it sets (e.g. X-Forwarded-Proto) so Django knows the
# request was HTTPS. Only when the proxy always sets (or strips) that header: a client could forge it.
_PROXY_SSL_HEADER = env.str("DJANGO_SECURE_PROXY_SSL_HEADER", "").strip()
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_").removeprefix("HTTP_"), "https")
    if _PROXY_SSL_HEADER
    else None
)
SESSION_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # static/js reads the token from this cookie to send it as X-CSRFToken
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Content-Security-Policy, set by django-csp (mediaplatform.security_headers adds the websocket origin).
# Scripts and styles only from our own static files: no page has inline scripts, style attributes or
# <style> blocks (the Swagger UI's page is overridden in templates/drf_spectacular/ for that), and
# the pages' scripts set styles through the DOM, which the policy allows. data: images are the
# Swagger UI's icons. CONTENT_SECURITY_POLICY=0 sends none; CONTENT_SECURITY_POLICY_REPORT_ONLY=1 sends the
# same policy as Content-Security-Policy-Report-Only instead.
_CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:", *MEDIA_STORE_BROWSER_ORIGINS],
        "font-src": ["'self'"],
        "media-src": ["'self'", *MEDIA_STORE_BROWSER_ORIGINS],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
_CSP_ENFORCED = env.bool("CONTENT_SECURITY_POLICY", True)
_CSP_REPORT_ONLY = env.bool("CONTENT_SECURITY_POLICY_REPORT_ONLY", False)
CONTENT_SECURITY_POLICY = _CONTENT_SECURITY_POLICY if _CSP_ENFORCED and not _CSP_REPORT_ONLY else None
CONTENT_SECURITY_POLICY_REPORT_ONLY = _CONTENT_SECURITY_POLICY if _CSP_ENFORCED and _CSP_REPORT_ONLY else None
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# ===================================================================== end of production security ====

# Where `install_model NAME` and the admin's Install download catalog weights from (NAME's file name is appended):
# ultralytics' release assets by default; a mirror or an air-gapped file server works the same. Operator-set, so
# it is trusted (a URL a user gives is checked like any other outbound request).
MODEL_DOWNLOAD_BASE_URL = env.str(
    "MODEL_DOWNLOAD_BASE_URL", "https://github.com/ultralytics/assets/releases/download/v8.3.0/"
)
