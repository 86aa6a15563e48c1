"""What compiling costs: cache states in fresh processes, phases, and the recompilation scenarios.

The scenarios run with Dynamo's ``eager`` backend (Dynamo guards and
recompiles exactly as with Inductor, without minutes of C++), except where
Inductor's caches are the point.
"""

import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from hellotorch.compilecost.states import measure_cache_states, regional_variant
from hellotorch.compilecost.worker import compile_phases
from hellotorch.measuring.recompile_scenarios import RecompileLimitHit, run_scenario
from hellotorch.profiles.file import load_profile_file
from hellotorch.results.compile_tables import cache_state_frame, phase_frame
from hellotorch.runfiles import COST_FIELDS
from hellotorch.training.loops import prepare

from .fixtures_util import adamw_case


def _case(model="mlp", batch=64, mode="default", **fields):
    return adamw_case(model=model, batch_size=batch, mode=mode, scope="step", **fields)


def _scenario(name, **kw):
    case = _case(scenario=name, backend="eager", **kw)
    return run_scenario(name, prepare(case.run_config()))


def test_a_python_float_learning_rate_recompiles_until_the_limit_and_is_failed():
    with pytest.raises(RecompileLimitHit, match=r"recompile limit \(8\) hit at step \d+ of 12, after \d+ recompiles"):
        _scenario("lr-float")


def test_a_tensor_learning_rate_compiles_once():
    outcome = _scenario("lr-tensor")
    assert outcome.recompiles == 0 and outcome.added_compile_s == 0


def test_a_smaller_last_batch_recompiles_once():
    outcome = _scenario("last-batch")
    assert outcome.recompiles == 1 and outcome.added_compile_s > 0


@pytest.mark.parametrize(
    "scenario, mode, recompiles", [("seq-auto", "auto-dynamic", 1), ("seq-mark", "auto-dynamic", 0)]
)
def test_varying_sequence_lengths_recompile_once_unless_marked_dynamic(scenario, mode, recompiles):
    assert _scenario(scenario, model="gpt", batch=8, mode=mode).recompiles == recompiles


def test_the_recompile_limit_is_a_failure_not_a_silent_eager_fallback():
    with pytest.raises(RecompileLimitHit, match="past it the step would run eagerly"):
        _scenario("limit")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"scenario": "lr-cosine"}, "unknown scenario 'lr-cosine'; choose one of: lr-float"),
        ({"scenario": "seq-auto", "mode": "auto-dynamic"}, "only gpt has, not model mlp"),
        ({"scenario": "seq-mark", "model": "gpt", "batch": 8}, "runs under compile mode auto-dynamic, not default"),
    ],
)
def test_a_scenario_that_cannot_run_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _case(**kwargs)


def test_phases_are_the_differences_of_pytorchs_cumulative_compile_times(monkeypatch):
    forward = SimpleNamespace(
        dynamo_cumulative_compile_time_us=10_000_000,
        aot_autograd_cumulative_compile_time_us=8_000_000,
        backward_cumulative_compile_time_us=None,
        inductor_cumulative_compile_time_us=7_000_000,
        inductor_code_gen_cumulative_compile_time_us=6_000_000,
    )
    backward = SimpleNamespace(
        dynamo_cumulative_compile_time_us=None,
        aot_autograd_cumulative_compile_time_us=None,
        backward_cumulative_compile_time_us=3_000_000,
        inductor_cumulative_compile_time_us=2_500_000,
        inductor_code_gen_cumulative_compile_time_us=2_000_000,
    )
    monkeypatch.setattr(torch._dynamo.utils, "get_compilation_metrics", lambda: [forward, backward])
    assert compile_phases() == pytest.approx(
        {"dynamo": 2.0, "aot_autograd": 1.5, "inductor_lowering": 1.5, "codegen_and_compile": 8.0}
    )


def _row(state, process, compile_s, variant="whole", steady_s=0.001):
    row = dict.fromkeys(COST_FIELDS, 0.0)
    row.update(id="c", variant=variant, state=state, process=process, compile_s=compile_s, steady_s=steady_s)
    return row


def test_each_state_is_the_median_of_its_processes_with_spread_and_break_even():
    rows = [_row("cold", i, t) for i, t in enumerate((10.0, 12.0, 11.0))]
    rows += [_row("warm", i, t) for i, t in enumerate((3.0, 2.0, 2.5))]
    cases = pd.DataFrame([{"id": "c", "paired_eager_ms": 2.0, "speedup": 2.0}])
    summary = cache_state_frame(rows, cases).set_index("state")
    assert summary.loc["cold", "compile_s"] == 11.0 and summary.loc["cold", "spread_s"] == 2.0
    assert summary.loc["warm", "compile_s"] == 2.5 and summary.loc["warm", "processes"] == 3
    # 1 ms saved per step (2 ms eager at a 2x speedup): 11 s of compile pays after 11000 steps.
    assert summary.loc["cold", "break_even_steps"] == 11000
    assert list(phase_frame(rows)["state"].astype(str)) == ["cold", "warm"]


def test_a_model_without_blocks_has_no_regional_variant():
    assert regional_variant(_case(model="linear", batch=4)) is None
    assert regional_variant(_case()).scope == "blocks"


def test_profile_files_measure_cache_states_unless_told_not_to(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('models = ["mlp"]\nmodes = ["eager", "default"]\n')
    cases = load_profile_file(path, devices=("cpu",)).cases
    assert [case["cache_states"] for case in cases] == [False, True]
    path.write_text('models = ["mlp"]\ncache_states = "yes"\n')
    with pytest.raises(ValueError, match="key 'cache_states' must be true or false"):
        load_profile_file(path, devices=("cpu",))


@pytest.mark.slow
def test_cache_states_in_fresh_processes_save_and_load_portable_artifacts():
    rows = []
    fields = measure_cache_states(_case(model="linear", batch=4), processes=1, regional=False, on_rows=rows.extend)
    assert [(row["state"], row["process"]) for row in rows] == [("cold", 0), ("warm", 0), ("portable", 0)]
    by_state = {row["state"]: row for row in rows}
    # Cold: every cache off, so nothing is looked up; warm and portable hit the FX-graph cache.
    assert by_state["cold"]["fx_hits"] == by_state["cold"]["fx_misses"] == 0
    assert by_state["warm"]["fx_hits"] > 0 and by_state["portable"]["fx_hits"] > 0
    assert by_state["portable"]["load_s"] > 0
    assert all(math.isfinite(fields[f"{state}_compile_s"]) for state in ("cold", "warm", "portable"))


def test_cuda_graphs_extra_memory_is_reported_on_its_own():
    from hellotorch.results.table import _cudagraph_extra_mb

    common = dict(task="train", device="cuda", model="mlp", batch_size=64, optimizer="adamw", dtype="float32")
    common.update(strategy="none", world_size=1, scope="step", backend="inductor", implementation="forloop")
    frame = pd.DataFrame(
        [
            {**common, "mode": "default", "peak_memory_mb": 100.0},
            {**common, "mode": "reduce-overhead", "peak_memory_mb": 160.0},
            {**common, "mode": "eager", "peak_memory_mb": 90.0},
        ]
    )
    extra = _cudagraph_extra_mb(frame)
    assert extra[1] == 60.0 and math.isnan(extra[0]) and math.isnan(extra[2])
