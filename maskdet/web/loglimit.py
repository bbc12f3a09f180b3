"""Cap the length of every line the server writes to stdout and stderr.

Requests carry strings of any length (a 1 MB file path), and Gradio logs the traceback of every
refused request with the request's value in it, so one request could write megabytes to the log.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import TextIO

MAX_LINE_CHARS = 2000


class LineCappedStream(io.TextIOBase):
    """A text stream that passes lines through up to `max_chars` characters each, then a marker."""

    def __init__(self, stream: TextIO, max_chars: int = MAX_LINE_CHARS) -> None:
        super().__init__()
        self._stream, self._max = stream, max_chars
        self._column = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._stream.write(self._capped(text))
        return len(text)

    def _capped(self, text: str) -> str:
        out = []
        for index, piece in enumerate(text.split("\n")):
            if index:
                out.append("\n")
                self._column = 0
            room = self._max - self._column
            if room > 0:
                out.append(piece[:room])
            if self._column <= self._max < self._column + len(piece):
                out.append(f" [... line cut at {self._max} characters]")
            self._column += len(piece)
        return "".join(out)

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8")


def cap_output_lines(max_chars: int = MAX_LINE_CHARS) -> None:
    """Wrap sys.stdout and sys.stderr (once) so no line longer than `max_chars` reaches the log."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, LineCappedStream):
            setattr(sys, name, LineCappedStream(stream, max_chars))
