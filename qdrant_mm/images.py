"""Fetching product images from files or http(s) URLs, safely, and decoding them once.

Limits: a byte cap (``QDRANT_MM_IMAGE_MAX_BYTES``), a pixel cap against decompression bombs
(``QDRANT_MM_IMAGE_MAX_PIXELS``, checked from the header before pixels are decoded), a deadline
for the whole download of a URL (``QDRANT_MM_IMAGE_TIMEOUT``: connect, redirects and every read
together, so a server trickling bytes cannot hold a sync) and at most :data:`MAX_REDIRECTS`
redirects. httpx does the HTTP (redirects, streaming, per-read timeouts); Pillow decodes.
Over a limit: :class:`ImageTooLargeError`; not an image or an unsupported format:
:class:`UnsupportedImageError`; anything else that fails: :class:`ImageLoadError`.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
from PIL import Image, UnidentifiedImageError

from qdrant_mm import defaults
from qdrant_mm.errors import ImageLoadError, ImageTooLargeError, UnsupportedImageError
from qdrant_mm.image_modes import to_model_rgb

MAX_REDIRECTS = 5
SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "MPO"})


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = defaults.IMAGE_MAX_BYTES
    max_pixels: int = defaults.IMAGE_MAX_PIXELS
    timeout: float = defaults.IMAGE_TIMEOUT

    @classmethod
    def from_settings(cls, settings) -> ImageLimits:
        return cls(settings.image_max_bytes, settings.image_max_pixels, settings.image_timeout)


def is_url(ref: str) -> bool:
    return ref.startswith(("http://", "https://"))


def resolve_image_ref(ref: str, base_dir: Path) -> str:
    """A URL stays as is; a relative path is taken relative to the catalog's folder."""
    if is_url(ref):
        return ref
    p = Path(ref)
    with contextlib.suppress(RuntimeError):  # "~someone", no such user: read as is (not found)
        p = p.expanduser()
    return str(p if p.is_absolute() else base_dir / p)  # base_dir is already absolute


T = TypeVar("T")


class _Downloads:
    """Daemon threads downloading image URLs from a queue. (Not a ThreadPoolExecutor: its
    workers are joined when the interpreter exits, so a sync stopped by Ctrl-C would wait for
    the downloads under way, up to their timeout.)"""

    def __init__(self, workers: int, limits: ImageLimits, client: httpx.Client | None) -> None:
        self._jobs: queue.SimpleQueue[tuple[str, Future[bytes]] | None] = queue.SimpleQueue()
        self._stopped = threading.Event()
        self._limits, self._client, self._workers = limits, client, workers
        for _ in range(workers):
            threading.Thread(target=self._work, name="qdrant-mm-image", daemon=True).start()

    def submit(self, url: str) -> Future[bytes]:
        started: Future[bytes] = Future()
        self._jobs.put((url, started))
        return started

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            url, started = job
            if self._stopped.is_set():
                started.cancel()
                continue
            if not started.set_running_or_notify_cancel():  # cancelled while queued
                continue
            try:
                started.set_result(read_image_bytes(url, self._limits, self._client))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by the future
                started.set_exception(exc)

    def stop(self) -> None:
        """Cancel the downloads not started; those under way end within their timeout."""
        self._stopped.set()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[1].cancel()
        for _ in range(self._workers):
            self._jobs.put(None)


def downloads_ahead(
    items: Iterable[T],
    urls_of: Callable[[T], Iterable[str]],
    limits: ImageLimits,
    client: httpx.Client | None,
    workers: int,
    ahead: int,
) -> Iterator[tuple[T, dict[str, Future[bytes]]]]:
    """``items`` in order, each with the downloads of its image URLs (``urls_of``, resolved)
    already started: up to ``ahead`` items ahead of the one yielded, ``workers`` downloads at a
    time. Unreachable URLs then wait out their timeouts side by side instead of one after the
    other. A future holds the bytes or the exception reading them raised (an
    :class:`ImageLoadError` for a bad image). With ``workers`` < 2 nothing is started ahead
    (the caller reads each URL when it gets to it). Closing the iterator cancels the
    downloads not yet started."""
    if workers < 2:
        for item in items:
            yield item, {}
        return
    pool = _Downloads(workers, limits, client)
    window: deque[tuple[T, dict[str, Future[bytes]]]] = deque()
    try:
        for item in items:
            started: dict[str, Future[bytes]] = {}
            for url in urls_of(item):
                if is_url(url) and url not in started:
                    started[url] = pool.submit(url)
            window.append((item, started))
            if len(window) > ahead:
                yield window.popleft()
        while window:
            yield window.popleft()
    finally:
        pool.stop()


def read_image_bytes(ref: str, limits: ImageLimits, client: httpx.Client | None = None) -> bytes:
    """The raw bytes of a local file or URL, refusing anything over ``limits.max_bytes``."""
    if is_url(ref):
        return _download(ref, limits, client)
    if "\0" in ref:
        raise ImageLoadError(f"image path contains a NUL character: {ref!r}")
    path = Path(ref)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageLoadError(f"image file not found: {ref}") from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read image file {ref}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise ImageLoadError(f"image path is not a file: {ref}")
    if size == 0:
        raise ImageLoadError(f"image file is empty (0 bytes): {ref}")
    if size > limits.max_bytes:
        raise ImageTooLargeError(
            f"image file is {size} bytes, over the {limits.max_bytes} limit: {ref}"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(f"cannot read image file {ref}: {exc.strerror or exc}") from None


def _download(url: str, limits: ImageLimits, client: httpx.Client | None) -> bytes:
    """The bytes at ``url``, within ``limits.timeout`` seconds for the whole download.

    httpx's timeouts bound each network wait, not their sum: the download runs in a worker
    thread and is abandoned at the deadline (the worker stops at its next chunk, or when its
    read times out, and closes the response)."""
    result: Future[bytes] = Future()
    deadline = time.monotonic() + limits.timeout
    abandoned = threading.Event()

    def work() -> None:
        try:
            result.set_result(_fetch(url, limits, client, deadline, abandoned))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by the future
            result.set_exception(exc)

    threading.Thread(target=work, name="qdrant-mm-image-download", daemon=True).start()
    try:
        return result.result(timeout=limits.timeout)
    except FutureTimeoutError:
        raise _deadline_error(url, limits) from None
    finally:
        abandoned.set()


def _deadline_error(url: str, limits: ImageLimits) -> ImageLoadError:
    return ImageLoadError(
        f"image URL timed out: the download took over the {limits.timeout:g}s deadline"
        f" (QDRANT_MM_IMAGE_TIMEOUT): {url}"
    )


def _fetch(
    url: str,
    limits: ImageLimits,
    client: httpx.Client | None,
    deadline: float,
    abandoned: threading.Event,
) -> bytes:
    own = client is None
    client = client or httpx.Client(follow_redirects=True, max_redirects=MAX_REDIRECTS)
    try:
        # Each connect / read waits at most the whole budget, so an abandoned worker ends too.
        with client.stream("GET", url, timeout=limits.timeout) as resp:
            if resp.status_code >= 400:
                raise ImageLoadError(f"image URL answered HTTP {resp.status_code}: {url}")
            declared = resp.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise ImageTooLargeError(
                    f"image URL declares {declared} bytes, over the {limits.max_bytes} limit: {url}"
                )
            buf = bytearray()
            for chunk in resp.iter_bytes():
                if abandoned.is_set() or time.monotonic() > deadline:
                    raise _deadline_error(url, limits)
                buf.extend(chunk)
                if len(buf) > limits.max_bytes:
                    raise ImageTooLargeError(f"image URL sent over {limits.max_bytes} bytes: {url}")
    except httpx.TooManyRedirects:
        raise ImageLoadError(
            f"image URL redirected more than {MAX_REDIRECTS} times: {url}"
        ) from None
    except httpx.TimeoutException:
        raise ImageLoadError(f"image URL timed out after {limits.timeout:g}s: {url}") from None
    except httpx.HTTPError as exc:
        raise ImageLoadError(f"cannot download image {url}: {exc}") from None
    except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError is a ValueError
        # not an HTTPError: a malformed host or port, a control character, a host label over
        # 63 characters (the IDNA codec refuses it)
        raise ImageLoadError(f"invalid image URL {url!r}: {exc}") from None
    finally:
        if own:
            client.close()
    if not buf:
        raise ImageLoadError(f"image URL returned no bytes: {url}")
    return bytes(buf)


def decode_image(data: bytes, limits: ImageLimits, source: str = "image") -> Image.Image:
    """Decode bytes into an RGB image (EXIF orientation applied), checking format and size
    before the pixels are decoded."""
    if not data:
        raise ImageLoadError(f"{source}: empty image data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "?"
            if fmt not in SUPPORTED_FORMATS:
                raise UnsupportedImageError(
                    f"{source}: unsupported image format {fmt}"
                    f" (supported: {', '.join(sorted(SUPPORTED_FORMATS))})"
                )
            w, h = img.size
            if w <= 0 or h <= 0:
                raise ImageLoadError(f"{source}: image has no pixels ({w}x{h})")
            if w * h > limits.max_pixels:
                raise ImageTooLargeError(
                    f"{source}: image is {w}x{h} = {w * h} pixels, over the"
                    f" {limits.max_pixels} pixel limit (decompression bomb guard)"
                )
            if max(w, h) > defaults.IMAGE_MAX_ASPECT_RATIO * min(w, h):
                raise ImageTooLargeError(
                    f"{source}: image is {w}x{h}, one side over {defaults.IMAGE_MAX_ASPECT_RATIO}"
                    " times the other (the models would scale it up to a strip of gigabytes)"
                )
            img.load()
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"{source}: refused as a decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise UnsupportedImageError(f"{source}: not an image or an unsupported format") from None
    except Exception as exc:  # noqa: BLE001 - whatever a broken file makes Pillow raise
        raise ImageLoadError(
            f"{source}: corrupt or truncated image ({type(exc).__name__}: {exc})"
        ) from None
    try:
        return to_model_rgb(img)
    except Exception as exc:  # noqa: BLE001 - a pixel mode Pillow cannot convert
        raise UnsupportedImageError(
            f"{source}: image mode {img.mode} cannot be converted to RGB ({exc})"
        ) from None
