"""`maskdet bench --layers`: oneDNN's per-primitive timings parsed, grouped by shape without the
batch, and set against the whole call; one real run in a child process on a tiny model."""

from __future__ import annotations

import pytest

from maskdet.bench import layer_profile
from maskdet.bench.layer_profile import MARK, Call, parse_calls, primitive_label, render_profile

CONV_ONE = ("onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,"
            "src:f32::blocked:acdb::f0 wei:f32:a:blocked:Acdb16a::f0,attr-scratchpad:user,"
            "alg:convolution_direct,mb1_ic16oc32_ih64oh64kh3sh1dh0ph1_iw64ow64kw3sw1dw0pw1,{ms}")
CONV_EIGHT = CONV_ONE.replace("mb1_", "mb8_")
SOFTMAX = ("onednn_verbose,v1,primitive,exec,cpu,softmax,jit:avx2,forward_inference,"
           "src:f32::blocked:ab::f0 dst:f32::blocked:ab::f0,,alg:softmax_accurate axis:1,{n}x3,{ms}")
REORDER = ("onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,src:f32::blocked:cdba::f0 "
           "dst:f32:p:blocked:Bcda24b::f0,,,128x128x3x3,{ms}")


def verbose_output(one_ms: float, eight_ms: float) -> str:
    """What the child prints for one call of each size: marks around the primitives, with noise
    (TensorFlow's log lines, oneDNN's creation lines) that the parser must skip."""
    return "\n".join([
        "I0000 port.cc:153] oneDNN custom operations are on.",
        f"{MARK} start 1",
        CONV_ONE.format(ms=one_ms),
        CONV_ONE.replace("exec", "create:cache_miss").format(ms=9.9),
        SOFTMAX.format(n=1, ms=0.01),
        REORDER.format(ms=0.5),
        f"{MARK} end 1 4.0",
        f"{MARK} start 8",
        CONV_EIGHT.format(ms=eight_ms),
        SOFTMAX.format(n=8, ms=0.02),
        REORDER.format(ms=0.5),
        f"{MARK} end 8 16.0",
    ])


def test_a_primitive_is_labelled_by_kind_direction_and_shape_without_the_batch():
    assert primitive_label(CONV_ONE.format(ms=0.25)) == (
        "convolution forward ic16oc32_ih64oh64kh3sh1dh0ph1_iw64ow64kw3sw1dw0pw1", 0.25)
    assert primitive_label(CONV_EIGHT.format(ms=1)) == primitive_label(CONV_ONE.format(ms=1))
    assert primitive_label(SOFTMAX.format(n=8, ms=1))[0] == "softmax forward_inference 3"
    assert primitive_label(REORDER.format(ms=1))[0].endswith("128x128x3x3")  # weights: no batch to strip


def test_calls_keep_only_the_executed_primitives_between_their_marks():
    calls = parse_calls(verbose_output(2.0, 12.0))
    assert [(c.faces, c.wall_ms, len(c.primitives)) for c in calls] == [(1, 4.0, 3), (8, 16.0, 3)]
    assert calls[0].primitives[0][1] == 2.0


def test_the_table_gives_each_layers_ratio_and_what_lies_outside_onednn():
    table = render_profile(parse_calls(verbose_output(2.0, 12.0)))
    rows = {" ".join(line.split()[:-3]): line.split()[-3:] for line in table.splitlines()[1:]}
    conv = rows["convolution forward ic16oc32_ih64oh64kh3sh1dh0ph1_iw64ow64kw3sw1dw0pw1"]
    assert [float(x) for x in conv] == [2.0, 1.5, 0.75]  # 12 ms / 8 faces against 2 ms
    assert float(rows["reorder undef 128x128x3x3"][2]) == 0.125  # a fixed cost per call
    primitives, wall, outside = (rows[name] for name in (
        "all oneDNN primitives", "the whole call (wall)", "outside oneDNN (wall - primitives)"))
    assert float(primitives[0]) == pytest.approx(2.51) and float(wall[0]) == 4.0
    assert float(outside[0]) == pytest.approx(4.0 - 2.51)
    assert float(wall[1]) == 2.0  # 16 ms / 8 faces


def test_medians_are_taken_over_the_calls_of_each_size():
    calls = [Call(1, wall, (("conv", ms),)) for wall, ms in [(3.0, 1.0), (5.0, 9.0), (4.0, 2.0)]]
    calls += [Call(8, 8.0, (("conv", 8.0),))]
    wall, layers = layer_profile.median_profile(calls, 1)
    assert (wall, layers) == (4.0, {"conv": 2.0})
    with pytest.raises(ValueError, match="no timed call with 2 faces"):
        layer_profile.median_profile(calls, 2)


@pytest.mark.slow
def test_a_real_profile_of_a_tiny_model_lists_its_convolutions(tiny_model_file):
    calls = layer_profile.profile(tiny_model_file, repeats=2)
    assert sorted({call.faces for call in calls}) == [1, 8] and len(calls) == 4
    table = render_profile(calls)
    assert "convolution forward" in table and "outside oneDNN" in table
    assert all(call.wall_ms > 0 and call.primitives for call in calls)


def test_a_failing_child_is_reported_with_its_error(tmp_path):
    with pytest.raises(RuntimeError, match="layer profile failed"):
        layer_profile.profile(tmp_path / "missing.keras", repeats=1)
