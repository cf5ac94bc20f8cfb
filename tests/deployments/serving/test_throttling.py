"""The prediction API's rate limit."""

from __future__ import annotations

import pytest

from apps.deployments.serving import rate_limit_clean


@pytest.mark.parametrize(
    ("raw", "clean"),
    [("600/min", "600/min"), ("5/s", "5/sec"), (" 10 / Hour ", "10/hour"), ("1/day", "1/day")],
)
def test_rate_limits(raw, clean):
    assert rate_limit_clean(raw) == clean


class _CacheDown:
    """The shared cache, unreachable."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("cache down")

        return fail


@pytest.mark.django_db
def test_the_rate_limit_still_holds_while_the_cache_is_down(
    auth_client, key_client, deployment, ant_jpeg, monkeypatch
):
    """With the cache down, each process counts on its own: the limit is not lifted (it
    used to let every request through)."""
    from apps.deployments.serving import authentication, registry, throttling

    auth_client.patch(
        f"/api/v1/deployments/{deployment.slug}/", {"rate_limit": "2/min"}, format="json"
    )
    for module in (authentication, registry, throttling):
        monkeypatch.setattr(module, "store", lambda: _CacheDown())
    url = f"/api/v1/predict/{deployment.slug}/"
    codes = [
        key_client.post(url, data=ant_jpeg, content_type="image/jpeg").status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_local_counters_count_per_window_and_forget_old_windows():
    from apps.deployments.serving.throttling import LocalCounters, RateWindow

    counters = LocalCounters()
    first = RateWindow(key="w1", limit=2, duration=60, ends_at=100.0)
    assert [counters.incr(first, now=10.0) for _ in range(3)] == [1, 2, 3]
    second = RateWindow(key="w2", limit=2, duration=60, ends_at=160.0)
    assert counters.incr(second, now=110.0) == 1
    counters.PRUNE_AT = 1
    counters.incr(second, now=110.0)
    assert set(counters._counts) == {"w2"}


def test_a_missing_rate_limit_is_an_unreadable_window_not_a_crash():
    """DRF's parse_rate answers (None, None) for no rate; rate_window divided by it (found
    by mypy: a TypeError instead of the documented None)."""
    from types import SimpleNamespace

    from apps.deployments.serving.throttling import rate_window

    assert rate_window(SimpleNamespace(id=1, rate_limit=None), now=0.0) is None
