"""The benchmark harness: it runs, restores what it instruments, and compares like with like."""
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from deconvlab import autograd, bench, kernels, models, optim


def test_time_layers_reports_every_reference_layer_and_a_total():
    rows = bench.time_layers(batch=1, repeats=1)
    assert [r["name"] for r in rows] == [layer[0] for layer in bench.REFERENCE_LAYERS]
    assert all(r["ours"] > 0 for r in rows)
    table = bench.format_table(rows)
    assert table.splitlines()[-1].startswith("total")


def test_timed_blocks_alternate_the_jobs_and_time_only_the_calls_after_each_blocks_warm_up(monkeypatch):
    """7 repeats in 3 blocks (3, 2, 2 calls), jobs in turn (a, b, then b, a, then a, b), each block starting with one
    untimed call: 10 calls of each job, 7 times recorded."""
    monkeypatch.setattr(bench.time, "sleep", lambda seconds: None)
    calls = []
    jobs = [lambda: calls.append("a"), lambda: calls.append("b")]
    times = [[], []]
    bench._timed_blocks(jobs, times, repeats=7)
    assert "".join(calls) == "aaaa" + "bbbb" + "bbb" + "aaa" + "aaa" + "bbb"
    assert [len(t) for t in times] == [7, 7]


def test_train_step_timing_splits_the_step_and_restores_what_it_wrapped():
    before = (kernels.conv2d_forward, autograd.Add.__dict__["forward"], optim.clip_grad_norm)
    r = bench.time_train_step(width=4, batch=2, size=16, repeats=2)
    parts = r["kernels"] + r["other_operations"] + r["optimizer"] + r["bookkeeping"]
    assert r["kernels"] > 0 and parts == pytest.approx(r["ours"], rel=0.5)
    assert (kernels.conv2d_forward, autograd.Add.__dict__["forward"], optim.clip_grad_norm) == before


def test_pytorch_twin_of_inpaintnet_computes_the_same_function():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    model = models.InpaintNet(4, rng=rng)
    x = rng.random((2, 3, 16, 16)).astype(np.float32)
    m = np.zeros((2, 1, 16, 16), np.float32)
    m[:, :, 4:12, 2:9] = 1
    twin = bench._torch_inpaintnet(torch, model)
    ours = model(x, m).data
    theirs = twin(torch.from_numpy(x), torch.from_numpy(m)).detach().numpy()
    assert np.abs(ours - theirs).max() < 1e-5


@pytest.mark.parametrize("script, what", [("kernels.py", "kernels"), ("train_step.py", "train-step")])
def test_benchmark_scripts_pass_their_options_to_the_command(script, what):
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / script
    done = subprocess.run([sys.executable, str(path), "--dtype", "float16"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert "invalid choice: 'float16'" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.startswith("deconvlab bench: error:")


def test_json_output_names_its_time_unit_and_the_threads(capsys, monkeypatch):
    import json

    rows = [dict(name="a", shape="conv", algorithm="im2col", flops=4e9, ours=0.002, torch=0.001, ours_min=0.002,
                 torch_min=0.001)]
    monkeypatch.setattr(bench, "time_layers", lambda **kwargs: rows)  # the timing itself is tested above
    result = bench.run_kernels_benchmark(batch=1, repeats=1, compile_times=False, as_json=True)
    printed = json.loads(capsys.readouterr().out)
    assert printed["time_unit"] == "seconds" and printed["threads"] == bench.threads_line()
    assert printed["blas"] == bench.blas_line() and printed["matmul_gflops"] > 0
    assert printed["layers"] == rows == result["layers"]
    text = []
    bench.run_kernels_benchmark(batch=1, repeats=1, compile_times=False, out=text.append)
    assert text[1] == bench.threads_line() and text[2].startswith(bench.blas_line())
    row = text[3].splitlines()[1].split()
    assert row[-6:] == ["2.00", "1.00", "2.00", "2000", "4000", "im2col"]  # ms, ms, ratio, GFLOP/s, algorithm


def test_layer_flops_count_three_products_of_the_smaller_side():
    """b) conv 32->64 on 32x32, k4 s2 p1: output 16x16, 2·32·64·16·16·16 flops per sample and product."""
    assert bench.layer_flops("conv", 32, 64, 32, 4, 2, 1, batch=32) == 3 * 2 * 32 * 32 * 64 * 16 * 16 * 16
    assert bench.layer_flops("convT", 128, 64, 8, 4, 2, 1, batch=1) == 3 * 2 * 128 * 64 * 16 * 8 * 8
    total = sum(bench.layer_flops(*layer[1:], batch=32) for layer in bench.REFERENCE_LAYERS)
    assert round(total / 1e9, 2) == 6.78


def test_blas_line_names_the_kernel_set_and_the_variables_that_chose_it(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    line = bench.blas_line()
    assert "set by OPENBLAS_CORETYPE=Haswell" in line
    from deconvlab import parallel

    assert all(f"({lib.get('architecture')} kernels)" in line for lib in parallel.blas_info())


def test_blas_native_runs_the_same_command_in_a_child_without_the_blas_variables(monkeypatch):
    from deconvlab import cli

    seen = {}

    def fake_run(cmd, env, capture_output, text):
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 0, stdout="table\n", stderr="")

    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "1048576")
    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert cli.main(["bench", "kernels", "--blas-native", "--repeats", "3", "--no-compile-times"]) == 0
    assert seen["cmd"][1:] == ["-m", "deconvlab", "bench", "kernels", "--repeats", "3", "--dtype", "float32",
                               "--no-compile-times"]  # the options given (and --dtype): the child has the defaults
    assert "OPENBLAS_CORETYPE" not in seen["env"] and "OPENBLAS_L2_SIZE" not in seen["env"]


@pytest.mark.slow
def test_first_call_runs_compile_cold_and_then_load_everything_from_the_cache():
    """im2col alone (the cheapest algorithm): the cold run lists the functions it compiled, with their seconds;
    the second process, given the same cache, compiles none of them."""
    cold, warm = bench._first_call_runs("float32", ("im2col",))
    names = [f[0] for f in cold["functions"]]
    assert {"kernels.fast.im2col", "kernels.fast.col2im", "kernels.fast._split"} <= set(names)
    assert not any(name.startswith("kernels.winograd.") or name.startswith("kernels.direct.") for name in names)
    assert all(seconds >= llvm > 0 for _, seconds, llvm in cold["functions"])
    assert warm["functions"] == [] and 0 < warm["seconds"] < cold["seconds"]


def test_compile_report_lists_the_slowest_function_first_and_both_algorithm_sets(capsys, monkeypatch):
    import json

    calls = []

    def runs(dtype, algorithms):  # the fresh processes themselves are tested above
        calls.append(algorithms)
        return [dict(seconds=2.0 * len(algorithms), functions=[["a.f", 0.5, 0.2], ["a.g", 1.5, 0.5]]),
                dict(seconds=0.5, functions=[])]

    monkeypatch.setattr(bench, "_first_call_runs", runs)
    report = bench.run_compile_benchmark(as_json=True)
    assert calls == [kernels.plan.ALGORITHMS, kernels.plan.DEFAULT_ALGORITHMS]
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(report))
    assert report["functions"] == [("a.g", 1.5, 0.5), ("a.f", 0.5, 0.2)]
    every, default = 2.0 * len(kernels.plan.ALGORITHMS), 2.0 * len(kernels.plan.DEFAULT_ALGORITHMS)
    assert (report["cold_s"], report["warm_s"], report["default_cold_s"]) == (every, 0.5, default)
    text = []
    bench.run_compile_benchmark(out=text.append)
    assert text[1].split() == ["a.g", "1.50", "0.50"]
    assert text[3] == "2 signatures, 2.00 s in the compiler (0.70 s of it in LLVM)"
    assert f"{every:.2f} s with an empty compile cache, 0.50 s with the cache present" in text[4]
