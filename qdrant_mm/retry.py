"""Retrying storage calls on transient failures (tenacity: exponential backoff with jitter)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Connection errors, timeouts and 5xx answers are worth another try; 4xx are not."""
    if isinstance(exc, (ConnectionError, TimeoutError, httpx.TransportError)):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status >= 500
    try:  # qdrant-client wraps transport failures
        from qdrant_client.http.exceptions import ResponseHandlingException

        if isinstance(exc, ResponseHandlingException):
            return True
    except ImportError:  # pragma: no cover
        pass
    try:
        import grpc

        if isinstance(exc, grpc.RpcError) and exc.code() in (
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.DEADLINE_EXCEEDED,
        ):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


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
