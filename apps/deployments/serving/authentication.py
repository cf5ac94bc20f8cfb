"""API-key authentication for ``POST /api/v1/predict/<slug>/``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from apps.deployments.serving.registry import GENERATION_KEY, LiveDeployment, registry
from apps.deployments.serving.store import store
from apps.deployments.serving.throttling import rate_window

KEYWORD = "Api-Key"


@dataclass(frozen=True, slots=True)
class PredictionAuth:
    """``request.auth`` of a prediction request: which deployment, with which key, and the
    rate-limit count if it was already taken (``(counter key, count)``)."""

    deployment: LiveDeployment
    key_prefix: str
    counted: tuple[str, int] | None = None


def live_deployment_or_404(slug: str) -> LiveDeployment:
    live = registry.deployment(slug)
    if live is None:
        raise exceptions.NotFound(f"There is no deployment called {slug!r}.")
    return live


class DeploymentApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``, where the key is one of the deployment's own.

    The deployment comes first (an unknown slug is a 404 whatever the key), then the key (a
    missing, wrong, revoked or expired key, or another deployment's key, is a 401). Neither
    sessions nor CSRF are involved: nothing here reads a cookie.
    """

    def authenticate(self, request: Any) -> tuple[AnonymousUser, PredictionAuth]:
        slug = request.parser_context["kwargs"]["slug"]
        header = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, _, key = header.strip().partition(" ")
        key = key.strip()
        fast = self._from_memory(slug, key) if keyword.lower() == KEYWORD.lower() else None
        if fast is not None:
            return AnonymousUser(), fast
        live = live_deployment_or_404(slug)
        if not header:
            raise exceptions.NotAuthenticated(
                "An API key is required: send it in the header 'Authorization: Api-Key <key>'."
            )
        if keyword.lower() != KEYWORD.lower() or not key:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Api-Key <key>'."
            )
        if not registry.key_matches(live, key):
            raise exceptions.AuthenticationFailed(
                "This API key is not valid for this deployment (it may be wrong or revoked)."
            )
        return AnonymousUser(), PredictionAuth(deployment=live, key_prefix=registry.key_prefix(key))

    @staticmethod
    def _from_memory(slug: str, key: str) -> PredictionAuth | None:
        """The steady-state path: deployment and key already checked by this process, and
        one cache round trip that both confirms nothing changed since (the generation) and
        counts the request against the rate limit. Otherwise (first request, something
        changed, the cache is down) the process refreshes and the full check follows:
        returns None. A key never checked successfully never gets here, so wrong keys are
        not counted against the deployment's rate limit."""
        live = registry.cached_deployment(slug)
        if live is None or not key or not registry.cached_key_matches(live, key):
            registry.refresh()
            return None
        window = rate_window(live)
        try:
            if window is None:
                generation, counted = store().get(GENERATION_KEY), None
            else:
                generation, count = store().get_and_incr(
                    GENERATION_KEY, window.key, ttl=window.duration + 1
                )
                counted = (window.key, count)
        except Exception:  # noqa: BLE001 - cache down: the full path copes with it
            registry.refresh()
            return None
        if not registry.is_current(generation):
            registry.refresh(generation)
            return None
        # ``live`` was read before the generation: if another thread of this process
        # refreshed in between (a switch just landed), ``live`` may be the old snapshot
        # although the generation is now current. Only a snapshot still in the current
        # dict is good; otherwise take the full path (the request may then be counted twice
        # against the rate limit, only around a change).
        if registry.cached_deployment(slug) is not live:
            return None
        return PredictionAuth(deployment=live, key_prefix=registry.key_prefix(key), counted=counted)

    def authenticate_header(self, request: Any) -> str:
        return KEYWORD
