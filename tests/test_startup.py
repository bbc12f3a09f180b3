"""Start-up of the serving process (maskdet.web.startup): the malloc arena cap."""

from __future__ import annotations

import sys

import pytest

from maskdet.web import startup


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_arena_cap_is_set_on_glibc(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert startup.limit_malloc_arenas() is True


def test_an_explicit_malloc_arena_max_is_left_to_glibc(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert startup.limit_malloc_arenas() is False


def test_without_glibc_nothing_is_set(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.setattr(startup.sys, "platform", "darwin")
    assert startup.limit_malloc_arenas() is False


def test_the_app_caps_the_arenas_before_loading_the_model(monkeypatch):
    calls = []
    monkeypatch.setattr(startup, "limit_malloc_arenas", lambda: calls.append("arenas"))
    monkeypatch.setattr(startup, "assume_frozen_weights", lambda: calls.append("frozen"))

    class Loaded(Exception):
        pass

    def predictor():
        calls.append("model")
        raise Loaded

    monkeypatch.setattr(startup, "Predictor", predictor)
    with pytest.raises(Loaded):
        startup.load_predictor()
    assert calls == ["arenas", "frozen", "model"]
