"""Bearer tokens per regulator, scopes, and an in-process token-bucket rate limit.

Tokens are compared by their SHA-256 hash (the configuration stores only hashes). A
regulator's scope is a set of enterprise and site ids: an enterprise id covers the
enterprise report and every site of it; a site id covers that site only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time

from plantstream.errors import PlantStreamError
from plantstream.reports.config import LoadedConfig, RateLimit, Regulator

__all__ = ["AuthError", "Authenticator", "TokenBucket"]


class AuthError(PlantStreamError):
    """A refused request: HTTP `status` (401, 403, 429), a short `code`, a `reason`.

    `regulator` and `detail` are for the security log only, never for the answer: a 401
    does not say whose token it was.
    (A plain exception class: the web framework sets `__traceback__` on it.)
    """

    def __init__(self, status: int, code: str, reason: str,
                 retry_after_s: float | None = None, *, regulator: str | None = None,
                 detail: str | None = None) -> None:
        self.status = status
        self.code = code
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.regulator = regulator
        self.detail = detail or reason
        super().__init__(f"{status} {code}: {reason}")


class Authenticator:
    def __init__(self, *, loaded: LoadedConfig) -> None:
        self._loaded = loaded
        self._by_hash = {r.token_sha256: r for r in loaded.config.regulators}

    def regulator(self, authorization: str | None, *, now: dt.datetime | None = None) -> Regulator:
        if not authorization:
            raise AuthError(401, "missing_token", "send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "invalid_token", "the Authorization header is not a bearer token")
        digest = hashlib.sha256(token.strip().encode("utf-8")).hexdigest()
        found = None
        for known, regulator in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = regulator
        if found is None:
            raise AuthError(401, "invalid_token", "unknown token")
        if found.revoked:
            raise AuthError(401, "token_revoked", "the token has been revoked",
                            regulator=found.id, detail=f"the token of {found.id} is revoked")
        now = now or dt.datetime.now(tz=dt.UTC)
        if found.expires is not None and now >= found.expires:
            raise AuthError(401, "token_expired", "the token has expired", regulator=found.id,
                            detail=f"the token of {found.id} expired at "
                                   f"{found.expires.isoformat()}")
        return found

    def authorize(self, regulator: Regulator, scope_id: str) -> None:
        """403 unless `scope_id` (a site or an enterprise) is in the regulator's scope."""
        allowed = set(regulator.scope)
        if scope_id in allowed:
            return
        found = self._loaded.site(scope_id)
        if found is not None and found[0].enterprise.id in allowed:
            return
        raise AuthError(403, "out_of_scope",
                        f"{scope_id!r} is not in the scope of regulator {regulator.id}")


class TokenBucket:
    """One bucket per key: `burst` requests at once, refilled at `per_minute` / 60 a
    second. In-process: several server processes would each keep their own buckets."""

    MAX_KEYS = 10_000  # beyond this, full buckets are forgotten (they hold nothing)

    def __init__(self, *, limit: RateLimit) -> None:
        self._rate = limit.per_minute / 60.0
        self._burst = float(limit.burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self._burst, now))
        return min(self._burst, tokens + (now - last) * self._rate)

    def _limited(self, tokens: float) -> AuthError:
        return AuthError(429, "rate_limited",
                         f"more than {self._burst:g} requests at once or "
                         f"{self._rate * 60:g} a minute",
                         retry_after_s=(1.0 - tokens) / self._rate)

    def take(self, key: str) -> None:
        """Take a token, or raise a 429 `AuthError`."""
        now = time.monotonic()
        with self._lock:
            tokens = self._level(key, now)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise self._limited(tokens)
            self._store(key, tokens - 1.0, now)

    def wait_s(self, key: str) -> float:
        """Seconds until `key` has a token again (0: it has one now); takes nothing."""
        now = time.monotonic()
        with self._lock:
            tokens = self._level(key, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self._rate

    def spend(self, key: str) -> None:
        """Take a token if there is one (never raises): counting failures."""
        now = time.monotonic()
        with self._lock:
            self._store(key, max(0.0, self._level(key, now) - 1.0), now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.MAX_KEYS:
            self._buckets = {k: (t, last) for k, (t, last) in self._buckets.items()
                             if t + (now - last) * self._rate < self._burst}
