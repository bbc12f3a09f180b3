import pytest

from maskdet.core import numerics as precision
from maskdet.core.numerics import PRECISION_ENV, PrecisionError, native_bfloat16, resolve_precision


def test_explicit_choice_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "bfloat16")
    assert resolve_precision("float32") == "float32"
    assert resolve_precision() == "bfloat16"
    assert resolve_precision(" BFloat16 ") == "bfloat16"


def test_auto_follows_native_bfloat16_support(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(precision, "_gpu_visible", lambda: False)
    assert resolve_precision(flags={"avx2", "avx512f", "avx512_bf16"}) == "bfloat16"
    assert resolve_precision("auto", flags={"amx_bf16"}) == "bfloat16"
    assert resolve_precision(flags={"avx2", "fma", "avx512f"}) == "float32"
    monkeypatch.setattr(precision, "_gpu_visible", lambda: True)
    assert resolve_precision(flags={"avx512_bf16"}) == "float32"


def test_unknown_precision_is_a_clear_error(monkeypatch):
    with pytest.raises(PrecisionError, match="auto, float32, bfloat16"):
        resolve_precision("float16")
    monkeypatch.setenv(PRECISION_ENV, "fast")
    with pytest.raises(PrecisionError, match=PRECISION_ENV):
        resolve_precision()


def test_cpu_flags_are_read_from_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_bf16\n\nprocessor\t: 1\n")
    monkeypatch.setattr(precision, "CPUINFO", cpuinfo)
    assert precision.cpu_flags() == {"fpu", "sse", "avx2", "avx512_bf16"} and native_bfloat16()
    monkeypatch.setattr(precision, "CPUINFO", tmp_path / "missing")
    assert precision.cpu_flags() == set() and not native_bfloat16()


def test_a_onednn_instruction_set_cap_below_bfloat16_means_no_native_bfloat16(monkeypatch):
    flags = {"avx2", "avx512f", "avx512_bf16"}
    monkeypatch.setenv(precision.ONEDNN_ISA_ENV, "AVX2")
    assert not native_bfloat16(flags)
    monkeypatch.setenv(precision.ONEDNN_ISA_ENV, "AVX512_CORE_BF16")
    assert native_bfloat16(flags)
    monkeypatch.delenv(precision.ONEDNN_ISA_ENV)
    assert native_bfloat16(flags)
