"""What `make up` runs: the embedded defaults, or the full stack when DATABASE_URL,
REDIS_URL and the S3 settings are in the environment. DEBUG stays off unless asked for."""

from .base import *  # noqa: F403
