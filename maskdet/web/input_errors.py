"""Inputs of the wrong form: a short message, not a logged traceback; a stream marked with
skips_bad_inputs goes on (refused_input() says what was wrong). Patches Gradio's Blocks.preprocess_data
(install_short_input_errors)."""

from __future__ import annotations

import errno
from contextvars import ContextVar
from typing import Any, Callable, Optional

import gradio as gr
import pydantic
from gradio.blocks import Blocks
from gradio.exceptions import InvalidPathError

WRONG_FORM = "The request's input is not in the form this app expects."
NOT_UPLOADED = "Could not read that image: it was not uploaded to this app. Upload the file instead."
_gradio_preprocess = Blocks.preprocess_data
_SKIPS_BAD_INPUTS = "_maskdet_skips_bad_inputs"
_refused: ContextVar[Optional[str]] = ContextVar("maskdet_refused_input", default=None)


def skips_bad_inputs(fn: Callable) -> Callable:
    """Mark an event function (a stream's) to be called with None for each input of the wrong form
    instead of failing the event; refused_input() then says what was wrong."""
    setattr(fn, _SKIPS_BAD_INPUTS, True)
    return fn


def refused_input() -> Optional[str]:
    """Inside a skips_bad_inputs function: why an input of this call was replaced by None, or None."""
    return _refused.get()


def install_short_input_errors() -> None:
    """An input Gradio's data model refuses (a string where an image's file dict belongs), or too few
    inputs, made Gradio log a ~1.4 kB traceback per request and end a stream for good. Now it is a gr.Error without a
    traceback (WRONG_FORM), and a skips_bad_inputs function is called with None for it."""
    Blocks.preprocess_data = _preprocess_checked  # type: ignore[method-assign]


async def _preprocess_checked(self: Any, block_fn: Any, inputs: list, state: Any, explicit_call: bool = False) -> Any:
    _refused.set(None)
    if len(inputs) < len(block_fn.inputs):  # Gradio would log a traceback for this (validate_inputs)
        raise gr.Error(WRONG_FORM, print_exception=False)
    try:
        return await _gradio_preprocess(self, block_fn, inputs, state, explicit_call)
    except InvalidPathError:  # a file dict naming a path that was never uploaded: refused, not logged
        raise gr.Error(NOT_UPLOADED, print_exception=False) from None
    except OSError as err:  # a path too long to even look up (Gradio checks it before refusing it)
        if err.errno != errno.ENAMETOOLONG:
            raise
        raise gr.Error(NOT_UPLOADED, print_exception=False) from None
    except pydantic.ValidationError:
        if not getattr(block_fn.fn, _SKIPS_BAD_INPUTS, False):
            raise gr.Error(WRONG_FORM, print_exception=False) from None
    cleaned = [None if _wrong_form(block, value) else value for block, value in zip(block_fn.inputs, inputs)]
    try:
        processed = await _gradio_preprocess(self, block_fn, cleaned, state, explicit_call)
    except pydantic.ValidationError:
        raise gr.Error(WRONG_FORM, print_exception=False) from None
    _refused.set("it is not an image (wrong form)")
    return processed


def _wrong_form(block: Any, value: Any) -> bool:
    model = getattr(block, "data_model", None)
    if model is None or value is None or getattr(block, "stateful", False):
        return False
    try:
        model.model_validate(value, context={"validate_meta": True})
    except pydantic.ValidationError:
        return True
    except Exception:  # noqa: BLE001 - anything else is Gradio's to judge
        return False
    return False
