"""Unit and API tests. End-to-end tests start real processes with settings.local instead."""

from .base import *  # noqa: F403
from .base import CELERY_BEAT_SCHEDULE  # noqa: F401

# Unit tests only: tasks run in-process. End-to-end tests use a real worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {**REST_FRAMEWORK}  # noqa: F405
EMBED_ON_INGEST = False
