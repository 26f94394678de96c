"""Retrying storage calls on transient failures (tenacity: exponential backoff with jitter).

What is transient is decided by the backends, which raise
:class:`~qdrant_mm.errors.BackendTransientError` for a failure another try may fix (a timeout,
a 5xx answer, a dropped connection, Qdrant unreachable). Everything else fails at once:
refused requests, a missing collection, :class:`~qdrant_mm.errors.StoreLockedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from qdrant_mm.errors import BackendTransientError

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """A failure another try may fix: a backend's :class:`BackendTransientError`, or Python's
    own connection errors and timeouts."""
    return isinstance(exc, (BackendTransientError, ConnectionError, TimeoutError))


def retrying(
    fn: Callable[..., T], attempts: int = 5, max_wait: float = 10.0, initial: float = 0.2
) -> Callable[..., T]:
    """``fn`` wrapped to retry transient errors ``attempts`` times in all, then re-raise."""
    return retry(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=initial, max=max_wait),
        reraise=True,
    )(fn)
