"""An ASGI middleware that bounds what one HTTP request can make the server hold: body bytes, parts
of a multipart (upload) request, and the bytes all uploads keep on disk.

Gradio checks the size of each uploaded file, but it reads a JSON body of any size into memory (a
60 MB data URL was processed), accepts 1,000 files in one upload request, and lets uploads pile up
on disk until its delete_cache sweep runs. After large bodies it also hands freed memory back to
the OS (release_memory does the same for work that ends outside a request, e.g. a video job), and it
adds security headers (SECURITY_HEADERS) to every answer. Install it with
`launch(app_kwargs=request_guard(...))`.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import math
import os
import time
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Union

import anyio
from gradio.utils import get_upload_folder
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.middleware import Middleware

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_SLACK = 64 * 1024
"""Room for the JSON or multipart framing around the largest allowed file (as base64)."""
MAX_FORM_PARTS = 4
"""Files and fields in one multipart request. The browser and gradio_client send one file each."""
UPLOAD_BUDGET_ENV = "MASKDET_UPLOAD_BUDGET_MB"
DEFAULT_UPLOAD_BUDGET_MB = 2048
"""Bytes the upload folder (uploads, results, examples) may hold before new uploads wait for the
delete_cache sweep (answered 503 with Retry-After)."""
RESCAN_S = 2.0
"""How often the upload folder's size is measured; uploads admitted in between are added to it."""
DRAIN_LIMIT = 64 * 1024 * 1024
"""A refused body up to this size is read and discarded so the client gets the answer, not a reset."""
TRIM_AFTER_BYTES = 1024 * 1024
TRIM_DELAY_S = 2.0
"""After a body of TRIM_AFTER_BYTES or more, glibc's malloc_trim runs once within TRIM_DELAY_S (when
the request has usually been processed). glibc keeps freed multi-megabyte buffers for reuse in each
thread's arena: without it, RSS climbed by ~550 MB over 100 requests with 8 MB data URLs, all free
memory that the process kept; with it, RSS returns to within a few tens of MB of where it began."""
FRAME_ANCESTORS = "'self' https://huggingface.co https://*.hf.space"
"""Pages that may embed the app: itself and Hugging Face Spaces (huggingface.co/spaces/... embeds the
app's *.hf.space address in an iframe); no other site can frame it (clickjacking)."""
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": f"frame-ancestors {FRAME_ANCESTORS}; object-src 'none'; base-uri 'self'",
    "referrer-policy": "strict-origin-when-cross-origin",
}
"""Added to every HTTP answer that does not set them itself: no MIME sniffing of served files (an
upload is never run as a script or page), framing only by the app and Spaces, no plugins, no <base>
rewriting, and no full URL (with its query) sent to other sites."""


class RequestRefused(HTTPException, MultiPartException):
    """Raised from the body stream: Gradio's upload route answers a MultiPartException with its
    message (413 when it says "maximum allowed size"); other routes answer the HTTPException."""

    def __init__(self, status_code: int, message: str) -> None:
        HTTPException.__init__(self, status_code=status_code, detail=message)
        self.message = message


def body_limit(max_file_bytes: int) -> int:
    """The largest request body: one file of the upload limit, base64-encoded, plus framing."""
    return math.ceil(max_file_bytes / 3) * 4 + BODY_SLACK


def request_guard(max_file_size: int) -> dict[str, list[Middleware]]:
    """launch() app_kwargs that install RequestGuard for an app with this max_file_size (bytes)."""
    budget_mb = int(os.environ.get(UPLOAD_BUDGET_ENV, DEFAULT_UPLOAD_BUDGET_MB))
    limit = body_limit(max_file_size)
    return {"middleware": [Middleware(RequestGuard, max_body_bytes=limit, upload_budget=budget_mb * 1024 * 1024)]}


class UploadBudget:
    """Admits uploads while the upload folder holds less than `limit` bytes."""

    def __init__(self, folder: Union[str, Path], limit: int, rescan_s: float = RESCAN_S) -> None:
        self.folder, self.limit, self.rescan_s = Path(folder), limit, rescan_s
        self._used, self._scanned_at = 0, -math.inf

    async def admit(self, nbytes: int) -> bool:
        """Reserve `nbytes` if they fit (the folder is measured again every `rescan_s` seconds)."""
        if time.monotonic() - self._scanned_at > self.rescan_s:
            self._used = await anyio.to_thread.run_sync(folder_bytes, self.folder)
            self._scanned_at = time.monotonic()
        if self._used + nbytes > self.limit:
            return False
        self._used += nbytes
        return True


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder` (files deleted meanwhile are skipped)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


class MemoryTrimmer:
    """Runs gc.collect() and malloc_trim(0) once, a delay after the first call to soon() (nothing
    without glibc)."""

    def __init__(self, delay_s: float = TRIM_DELAY_S) -> None:
        self.delay_s, self._pending = delay_s, False
        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        self._trim = getattr(libc, "malloc_trim", None)

    def soon(self) -> None:
        if self._trim is None or self._pending:
            return
        self._pending = True
        asyncio.get_running_loop().call_later(self.delay_s, self._run)

    def _run(self) -> None:
        self._pending = False
        asyncio.get_running_loop().run_in_executor(None, self.collect_and_trim)

    def collect_and_trim(self) -> None:
        """Now, in the calling thread: collect cycles, then hand free heap memory back to the OS."""
        gc.collect()  # refused requests leave cycles (exception -> traceback -> frame -> the bytes)
        if self._trim is not None:
            self._trim(0)


_TRIMMER = MemoryTrimmer()


def release_memory() -> None:
    """gc.collect() and malloc_trim(0) now, from any thread: after work that freed much memory
    outside a large request (a video job frees hundreds of MB of frames, which glibc would keep)."""
    _TRIMMER.collect_and_trim()


class RequestGuard:
    """Refuse over-long bodies (413), multipart requests with too many parts (400), and uploads
    beyond the disk budget (503), on every route, before the app reads them."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_form_parts: int = MAX_FORM_PARTS,
                 upload_budget: Optional[int] = None, upload_folder: Union[str, Path, None] = None) -> None:
        self.app, self.max_body, self.max_parts = app, max_body_bytes, max_form_parts
        folder = upload_folder or get_upload_folder()
        self.budget = UploadBudget(folder, upload_budget) if upload_budget else None
        self.trimmer = MemoryTrimmer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_security_headers(send)
        headers = Headers(scope=scope)
        declared = _content_length(headers)
        if declared is not None and declared > self.max_body:
            await _drain(receive, declared)
            await _answer(send, 413, f"Request body too large: the limit is {self.max_body} bytes.")
            return
        boundary = _multipart_boundary(headers)
        if boundary and self.budget and not await self.budget.admit(declared or self.max_body):
            await _drain(receive, declared or 0)
            await _answer(send, 503, "The server is holding too many uploads; try again in a few minutes.",
                          {"retry-after": "60"})
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._guarded(receive, boundary), tracking_send)
        except RequestRefused as refused:  # raised where no route handler turned it into a response
            if not started:
                await _answer(send, refused.status_code, refused.message)
        finally:
            if (declared or 0) >= TRIM_AFTER_BYTES:
                self.trimmer.soon()

    def _guarded(self, receive: Receive, boundary: Optional[bytes]) -> Receive:
        """`receive`, raising RequestRefused once the body passes the limits."""
        delimiter = b"--" + boundary if boundary else b""
        received, delimiters, tail = 0, 0, b""

        async def guarded() -> Message:
            nonlocal received, delimiters, tail
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            received += len(body)
            if received > self.max_body:
                raise RequestRefused(413, f"Request body exceeded maximum allowed size of {self.max_body} bytes.")
            if delimiter:
                window = tail + body  # tail is shorter than a delimiter: every match is new
                delimiters += window.count(delimiter)
                tail = window[-(len(delimiter) - 1):]
                if delimiters > self.max_parts + 1:  # n parts have n + 1 delimiters
                    raise RequestRefused(400, f"Too many files in one request: the limit is {self.max_parts}.")
            return message

        return guarded


def _content_length(headers: Headers) -> Optional[int]:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def _multipart_boundary(headers: Headers) -> Optional[bytes]:
    content_type = headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/"):
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value.strip('"'):
            return value.strip('"').encode("latin-1")
    return None


async def _drain(receive: Receive, declared: int) -> None:
    """Read and discard a refused body (when small enough) so the client reads the answer."""
    if declared > DRAIN_LIMIT:
        return
    more = declared > 0
    while more:
        message = await receive()
        more = message["type"] == "http.request" and message.get("more_body", False)


def _with_security_headers(send: Send) -> Send:
    """`send`, adding SECURITY_HEADERS to the response start where the app did not set them."""

    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", []))
            present = {key.lower() for key, _ in raw}
            raw += [(key.encode(), value.encode()) for key, value in SECURITY_HEADERS.items()
                    if key.encode() not in present]
            message = {**message, "headers": raw}
        await send(message)

    return secured


async def _answer(send: Send, status: int, text: str, headers: Optional[dict[str, str]] = None) -> None:
    body = text.encode()
    raw = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    raw += [(key.encode(), value.encode()) for key, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
