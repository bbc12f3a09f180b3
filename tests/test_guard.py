"""maskdet.web.guard and maskdet.web.loglimit on their own: the request guard around a small ASGI app, and
the line cap on a text stream. (Against the real app: tests/test_abuse.py.)"""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

from starlette.formparsers import MultiPartException

from maskdet.web.guard import RequestGuard, RequestRefused, UploadBudget, body_limit
from maskdet.web.loglimit import LineCappedStream


class BodyReader:
    """An ASGI app that reads the whole body and answers 200 with its length."""

    def __init__(self) -> None:
        self.received: Optional[int] = None

    async def __call__(self, scope, receive, send) -> None:
        total, more = 0, True
        while more:
            message = await receive()
            total += len(message.get("body", b""))
            more = message.get("more_body", False)
        self.received = total
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(total).encode()})


def run_async(coroutine) -> object:
    """asyncio.run in a thread of its own (a browser test's event loop may be running in this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run(guard: RequestGuard, chunks: list[bytes], headers: dict[str, str]) -> tuple[int, bytes]:
    """Send one POST with `chunks` as its body through `guard`: (status, body)."""
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    run_async(guard(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def multipart(boundary: str, parts: int) -> bytes:
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="f{i}"\r\n\r\n'
                    f"data {i}\r\n".encode() for i in range(parts))
    return body + f"--{boundary}--\r\n".encode()


def test_a_declared_body_over_the_limit_is_refused_unread():
    app = BodyReader()
    status, text = run(RequestGuard(app, max_body_bytes=100), [b"x" * 101], {"content-length": "101"})
    assert status == 413 and b"the limit is 100 bytes" in text and app.received is None
    assert run(RequestGuard(app, max_body_bytes=100), [b"x" * 100], {"content-length": "100"}) == (200, b"100")


def test_a_streamed_body_is_cut_off_at_the_limit():
    """No Content-Length (chunked): the body stream raises RequestRefused once past the limit; a
    route would answer it, and where none does the guard answers it itself."""
    status, text = run(RequestGuard(BodyReader(), max_body_bytes=100), [b"x" * 60, b"x" * 60], {})
    assert status == 413 and b"maximum allowed size of 100 bytes" in text


def test_multipart_parts_are_counted_across_chunk_edges():
    boundary = "b0undary"
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    body = multipart(boundary, 5)
    chunks = [body[i:i + 7] for i in range(0, len(body), 7)]  # delimiters split between chunks
    status, text = run(RequestGuard(BodyReader(), max_body_bytes=10_000, max_form_parts=4), chunks, headers)
    assert status == 400 and text == b"Too many files in one request: the limit is 4."
    allowed = multipart(boundary, 4)
    assert run(RequestGuard(BodyReader(), max_body_bytes=10_000, max_form_parts=4),
               [allowed[i:i + 7] for i in range(0, len(allowed), 7)], headers)[0] == 200


def test_uploads_wait_when_the_folder_is_over_budget(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "old.bin").write_bytes(b"x" * 600)
    budget = UploadBudget(tmp_path, limit=1000, rescan_s=0.0)
    assert run_async(budget.admit(300)) and not run_async(budget.admit(500))
    guard = RequestGuard(BodyReader(), max_body_bytes=10_000, upload_budget=1000, upload_folder=tmp_path)
    headers = {"content-type": "multipart/form-data; boundary=b", "content-length": "500"}
    status, text = run(guard, [b"x" * 500], headers)
    assert status == 503 and b"try again" in text


def test_the_body_limit_fits_one_file_as_base64():
    assert body_limit(3 * 1024) == 4 * 1024 + 64 * 1024


def test_a_refusal_is_both_kinds_of_exception_gradio_routes_answer():
    refused = RequestRefused(413, "Request body exceeded maximum allowed size of 5 bytes.")
    assert isinstance(refused, MultiPartException) and refused.message.endswith("5 bytes.")
    assert refused.status_code == 413 and refused.detail == refused.message


def test_long_lines_are_cut_once_and_short_ones_pass():
    out = io.StringIO()
    stream = LineCappedStream(out, max_chars=10)
    stream.write("short\n")
    stream.write("x" * 8)
    stream.write("y" * 1_000_000 + "\nnext")
    stream.write(" line\n")
    assert out.getvalue() == "short\n" + "x" * 8 + "yy [... line cut at 10 characters]\nnext line\n"
