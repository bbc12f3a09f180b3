"""Queue places per concurrency group: a group (live, video) may hold only a few of the queue's places,
one per session, so its requests cannot lock everyone else out; idle streams give up their slot.

Patches Gradio's Queue.push and Queue.wait_for_batch when limit_queue_group is first called: Gradio 6.31's
queue has one max_size for all groups and no per-group or per-session bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from gradio import route_utils
from gradio.queueing import Queue

STREAM_IDLE_S = 4.0
"""A stream that receives no frame for this long ends and frees its slot (Gradio waits up to its whole
time_limit, 60 s): a join that never sends a frame holds the live slot for seconds, not a minute."""


@dataclass(frozen=True)
class GroupLimit:
    """At most `waiting` events of a concurrency group wait in the queue, and one session has at most
    `per_session` events of it waiting or running; joins beyond are answered 503 with `message`."""

    waiting: int
    per_session: int
    message: str


_GROUP_LIMITS: dict[str, GroupLimit] = {}
_gradio_push = Queue.push
_gradio_wait_for_batch = Queue.wait_for_batch


def limit_queue_group(concurrency_id: str, waiting: int, per_session: int, message: str) -> None:
    """Bound the queue places `concurrency_id`'s events may take (see GroupLimit).

    Gradio's queue (max_size) counts waiting events of every group together, and a stream holds its
    slot until its time limit even when no frame comes: 33 live joins that sent nothing answered
    every photo request "queue full" for a minute. With a limit per group, the other groups keep
    max_size minus the limits; idle streams end after STREAM_IDLE_S."""
    _GROUP_LIMITS[concurrency_id] = GroupLimit(waiting, per_session, message)
    Queue.push = _push_within_group_limits  # type: ignore[method-assign]
    Queue.wait_for_batch = staticmethod(_wait_for_frames_briefly)  # type: ignore[method-assign]


async def _push_within_group_limits(self: Any, body: Any, request: Any, username: Any) -> Any:
    try:
        group = route_utils.get_fn(self.blocks, None, body).concurrency_id
    except Exception:  # noqa: BLE001 - a bad fn_index: Gradio's push answers it
        return await _gradio_push(self, body, request, username)
    limit = _GROUP_LIMITS.get(group)
    if limit is None:
        return await _gradio_push(self, body, request, username)
    async with _group_lock(self, group):  # the count and the push are one step: no overshoot
        waiting = self.event_queue_per_concurrency_id.get(group)
        mine = sum(1 for event in list(self.event_ids_to_events.values())
                   if event.concurrency_id == group and event.session_hash == body.session_hash
                   and not event.closed)
        if (waiting is not None and len(waiting.queue) >= limit.waiting) or mine >= limit.per_session:
            return False, limit.message, "queue_full"
        return await _gradio_push(self, body, request, username)


def _group_lock(queue: Any, group: str) -> asyncio.Lock:
    locks = queue.__dict__.setdefault("_maskdet_group_locks", {})
    return locks.setdefault(group, asyncio.Lock())


async def _wait_for_frames_briefly(events: list, timeouts: list[float]) -> Any:
    """Gradio's wait for a stream's next input (its only use), given up after STREAM_IDLE_S."""
    return await _gradio_wait_for_batch(events, [min(timeout, STREAM_IDLE_S) for timeout in timeouts])
