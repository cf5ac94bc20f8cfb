import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_attempt_counters():
    """Log-in and sign-up attempt counters live in the cache: none carry over between tests."""
    cache.clear()
    yield
    cache.clear()
