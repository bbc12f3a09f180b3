"""The last result of each browser session, kept (bounded in number and age) so that a display
setting redraws it with no model call."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Optional

from maskdet.core.prediction import Prediction

KEPT_SESSIONS = 48
"""At most this many sessions' last results are kept (the least recently used go first): about
250 MB at worst. A session whose result was dropped gets no redraw until it analyses again."""


class KeptResults:
    """The last result of each session, kept so display settings redraw it with no model call.

    Bounded in number (least recently used dropped) and in age; safe to use from request threads."""

    def __init__(self, capacity: int = KEPT_SESSIONS, max_age_s: float = 1800.0) -> None:
        self.capacity, self.max_age_s = capacity, max_age_s
        self._kept: OrderedDict[str, tuple[float, Prediction]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session: Optional[str], prediction: Prediction) -> None:
        if not session:
            return
        with self._lock:
            self._kept[session] = (time.monotonic(), prediction)
            self._kept.move_to_end(session)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)

    def get(self, session: Optional[str]) -> Optional[Prediction]:
        with self._lock:
            stamp, prediction = self._kept.get(session or "", (0.0, None))
            if prediction is None or time.monotonic() - stamp > self.max_age_s:
                self._kept.pop(session or "", None)
                return None
            self._kept.move_to_end(session)
            return prediction

    def drop(self, session: Optional[str]) -> None:
        with self._lock:
            self._kept.pop(session or "", None)

    def __len__(self) -> int:
        return len(self._kept)
