"""The thread budget and the batch split (deconvlab.parallel): parts, threads, BLAS limits, errors, forks."""
import multiprocessing
import os
import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from deconvlab import kernels, parallel

def blas_threads():
    """The thread count of the BLAS libraries the kernels limit (those loaded when they first ran: NumPy's)."""
    return max(lib.num_threads for lib in parallel._controller().lib_controllers)


@pytest.fixture(autouse=True)
def default_budget():
    """Every test starts and ends with the default budget (DECONVLAB_NUM_THREADS as the test sets it)."""
    parallel.set_num_threads(None)
    yield
    parallel.set_num_threads(None)


@pytest.fixture
def parts(monkeypatch):
    """Set the thread budget for one test (after the process's first split call, which runs unsplit)."""
    monkeypatch.setattr(parallel._state, "warmed_pid", os.getpid())
    return parallel.set_num_threads


@pytest.mark.parametrize("n, k", [(1, 1), (5, 2), (7, 3), (32, 2), (3, 5)])
def test_bounds_cover_the_range_in_order_with_sizes_differing_by_at_most_one(n, k):
    b = parallel.bounds(n, k)
    assert len(b) == k and b[0][0] == 0 and b[-1][1] == n
    assert all(b[i][1] == b[i + 1][0] for i in range(k - 1))
    sizes = [stop - start for start, stop in b]
    assert max(sizes) - min(sizes) <= 1


def test_parts_run_on_worker_threads_in_order_and_cover_the_batch(parts):
    parts(3)
    seen = parallel.run_in_parts(10, lambda n0, n1: (n0, n1, threading.current_thread().name))
    assert [s[:2] for s in seen] == [(0, 3), (3, 6), (6, 10)]
    assert all(name.startswith("deconvlab") for _, _, name in seen)


def test_one_part_or_one_sample_runs_on_the_callers_thread_within_the_thread_budget(parts):
    me = threading.current_thread().name
    parts(2)
    assert parallel.run_in_parts(1, lambda n0, n1: (n0, n1, threading.current_thread().name)) == [(0, 1, me)]
    parts(1)
    before = blas_threads()
    assert parallel.run_in_parts(8, lambda n0, n1: (n0, n1, threading.current_thread().name, blas_threads())) == [
        (0, 8, me, 1)]
    assert blas_threads() == before


def test_without_a_budget_one_sample_keeps_blas_threads(monkeypatch):
    monkeypatch.delenv(parallel.ENV, raising=False)
    parallel.set_num_threads(None)
    assert parallel.run_in_parts(1, lambda n0, n1: blas_threads()) == [blas_threads()]


def test_the_first_split_call_of_a_process_runs_on_the_callers_thread(monkeypatch):
    monkeypatch.setattr(parallel._state, "warmed_pid", None)
    parallel.set_num_threads(2)
    me = threading.current_thread().name
    assert parallel.run_in_parts(4, lambda n0, n1: (n0, n1, threading.current_thread().name)) == [(0, 4, me)]
    assert [r[:2] for r in parallel.run_in_parts(4, lambda n0, n1: (n0, n1))] == [(0, 2), (2, 4)]


FIRST_CALL_THEN_SCIPY = """
import numpy as np
from deconvlab import kernels
kernels.conv2d_forward(np.ones((8, 3, 16, 16), np.float32), np.ones((4, 3, 3, 3), np.float32), None, 1, 1)
import scipy.linalg
from threadpoolctl import threadpool_info
scipys = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas" and "numpy" not in i["filepath"]]
print(min(scipys) if scipys else "none")
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="needs 2 CPUs and Linux")
def test_scipys_blas_loaded_by_the_first_kernel_call_keeps_all_cpus():
    pytest.importorskip("scipy.linalg")
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in (parallel.ENV, "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    done = subprocess.run([sys.executable, "-c", FIRST_CALL_THEN_SCIPY], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    if done.stdout.split()[-1] == "none":
        pytest.skip("SciPy shares NumPy's BLAS here")
    assert int(done.stdout.split()[-1]) == len(os.sched_getaffinity(0))


def test_blas_runs_single_threaded_inside_the_parts_and_gets_its_threads_back(parts):
    parts(2)
    before = blas_threads()
    inside = parallel.run_in_parts(4, lambda n0, n1: blas_threads())
    assert inside == [1, 1]
    assert blas_threads() == before


def test_serial_blas_holds_blas_to_one_thread_and_gives_it_back_also_after_an_error():
    with threadpool_limits(2):
        with parallel.serial_blas():
            assert blas_threads() == 1
        assert blas_threads() == 2
        with pytest.raises(KeyError), parallel.serial_blas():
            raise KeyError("inside")
        assert blas_threads() == 2


def test_serial_blas_inside_a_part_leaves_the_parts_limit_alone(parts):
    parts(2)

    def job(n0, n1):
        with parallel.serial_blas():
            inside = blas_threads()
        return inside, blas_threads()  # still the part's single thread after the block

    assert parallel.run_in_parts(4, job) == [(1, 1), (1, 1)]


def test_a_split_call_inside_a_part_runs_there_as_one_part_with_blas_still_single_threaded(parts):
    parts(2)

    def inner(n0, n1):
        return n0, n1, threading.current_thread().name, blas_threads()

    def outer(n0, n1):
        return threading.current_thread().name, parallel.run_in_parts(6, inner)

    for name, inside in parallel.run_in_parts(4, outer):
        assert inside == [(0, 6, name, 1)]
    assert parallel.run_in_parts(3, inner)[1][:2] == (1, 3)  # outside a part the split is back


def test_a_one_part_call_never_gives_blas_more_threads_than_there_are_cpus(parts):
    parts(parallel.cpu_count() + 6)
    inside = parallel.run_in_parts(1, lambda n0, n1: blas_threads())
    assert inside == [parallel.cpu_count()]


def test_an_error_in_a_part_is_raised_after_all_parts_stop_and_blas_is_restored(parts):
    parts(2)
    before = blas_threads()
    finished = []

    def job(n0, n1):
        if n0 == 0:
            raise ValueError("part 0 failed")
        finished.append(n0)
        return n0

    with pytest.raises(ValueError, match="part 0 failed"):
        parallel.run_in_parts(4, job)
    assert finished == [2]
    assert blas_threads() == before


def test_the_parts_obey_the_callers_numpy_error_state(parts):
    parts(2)
    with np.errstate(over="raise", invalid="ignore"):
        states = parallel.run_in_parts(2, lambda n0, n1: np.geterr())
    assert all(s["over"] == "raise" and s["invalid"] == "ignore" for s in states)
    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError):
            parallel.run_in_parts(2, lambda n0, n1: np.float32(3e38) * np.float32(10))


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_count_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(parallel.ENV, value)
    parallel.set_num_threads(None)
    with pytest.raises(ValueError, match=f"{parallel.ENV} must be a positive integer.*{value!r}"):
        kernels.conv2d_forward(np.ones((2, 1, 4, 4)), np.ones((1, 1, 3, 3)))


def test_by_default_the_kernels_use_as_many_parts_as_blas_has_threads(monkeypatch):
    monkeypatch.delenv(parallel.ENV, raising=False)
    parallel.set_num_threads(None)
    assert parallel.get_num_threads() == blas_threads()
    with threadpool_limits(limits=1, user_api="blas"):
        assert parallel.get_num_threads() == 1


def test_without_threadpoolctl_the_kernels_run_in_one_part(monkeypatch):
    monkeypatch.setattr(parallel._state, "controller", False)
    parallel.set_num_threads(4)
    assert parallel.get_num_threads() == 1
    me = threading.current_thread().name
    assert parallel.run_in_parts(8, lambda n0, n1: threading.current_thread().name) == [me]


CASES = [  # conv2d arguments (x shape, w shape, stride, padding, dilation), transposed with output_padding
    ((7, 3, 9, 11), (4, 3, 3, 2), 1, 1, 1),
    ((5, 4, 12, 12), (6, 4, 4, 4), 2, 1, 1),
    ((6, 2, 10, 9), (3, 2, 3, 3), 3, 2, 2),
]


@pytest.mark.parametrize("x_shape, w_shape, s, p, d", CASES)
def test_results_agree_across_part_counts_and_repeat_to_the_bit(parts, x_shape, w_shape, s, p, d):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    wt = rng.standard_normal((w_shape[1], w_shape[0]) + w_shape[2:])
    xt = rng.standard_normal((x_shape[0], w_shape[1], 4, 5))
    results = {}
    for k in (1, 2, 3):
        parts(k)
        y = kernels.conv2d_forward(x, w, None, s, p, d)
        z = kernels.conv_transpose2d_forward(xt, wt, None, s, p, 0, d)
        out = (y, z) + kernels.conv2d_backward(y, x, w, s, p, d)[:2] + kernels.conv_transpose2d_backward(z, xt, wt, s, p, 0, d)[:2]
        again = (kernels.conv2d_forward(x, w, None, s, p, d),) + kernels.conv2d_backward(y, x, w, s, p, d)[:2]
        for a, b in zip(again, (out[0], out[2], out[3])):
            assert np.array_equal(a, b)
        results[k] = out
    for k in (2, 3):
        for a, b in zip(results[1], results[k]):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * np.abs(a).max())


def _conv_in_child(queue):
    x = np.ones((4, 2, 6, 6), np.float32)
    queue.put(float(kernels.conv2d_forward(x, np.ones((3, 2, 3, 3), np.float32), None, 1, 1).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_worker_threads(parts):
    parts(2)
    x = np.ones((4, 2, 6, 6), np.float32)
    expected = float(kernels.conv2d_forward(x, np.ones((3, 2, 3, 3), np.float32), None, 1, 1).sum())
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_conv_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, "the child hung or failed"
    assert queue.get(timeout=5) == expected


def test_set_num_threads_sets_the_budget_and_none_goes_back_to_the_environment(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "3")
    parallel.set_num_threads(None)
    assert parallel.thread_budget() == 3
    parallel.set_num_threads(2)
    assert parallel.thread_budget() == 2 and parallel.get_num_threads() == 2
    parallel.set_num_threads(None)
    assert parallel.thread_budget() == 3


def test_the_environment_is_read_once_until_the_budget_is_reset(monkeypatch):
    monkeypatch.setenv(parallel.ENV, "2")
    parallel.set_num_threads(None)
    assert parallel.thread_budget() == 2
    monkeypatch.setenv(parallel.ENV, "5")
    assert parallel.thread_budget() == 2  # not read again on every call
    parallel.set_num_threads(None)
    assert parallel.thread_budget() == 5
    monkeypatch.delenv(parallel.ENV)
    parallel.set_num_threads(None)
    assert parallel.thread_budget() is None


@pytest.mark.parametrize("value", [0, -1, 2.0, "2", True])
def test_set_num_threads_refuses_anything_but_a_positive_integer(value):
    with pytest.raises(ValueError, match=r"set_num_threads: expected a positive integer \(at most 1024\) or None"):
        parallel.set_num_threads(value)


def test_blas_info_names_the_blas_and_its_kernel():
    info = parallel.blas_info()
    assert info and all({"internal_api", "num_threads"} <= set(lib) for lib in info)


def _fake_caches(root, caches):
    for k, (level, kind, size) in enumerate(caches):
        folder = root / f"index{k}"
        folder.mkdir(parents=True)
        for name, text in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(f"{text}\n")
    return str(root)


@pytest.mark.parametrize("caches, expected", [
    ([("1", "Data", "48K"), ("1", "Instruction", "64K"), ("2", "Unified", "2048K"), ("3", "Unified", "480M")], 2 << 20),
    ([("1", "Data", "32K"), ("2", "Data", "1M")], 1 << 20),
    ([("2", "Unified", "64K")], 256 << 10),  # clamped up
    ([("2", "Unified", "64M")], 8 << 20),  # clamped down
    ([("2", "Instruction", "2048K")], parallel.L2_DEFAULT),  # not a data cache
    ([("2", "Unified", "big")], parallel.L2_DEFAULT),  # unreadable
])
def test_l2_cache_bytes_reads_the_level_2_data_cache_from_sysfs(tmp_path, caches, expected):
    assert parallel.l2_cache_bytes(_fake_caches(tmp_path / "cache", caches)) == expected


def test_l2_cache_bytes_falls_back_without_sysfs(tmp_path):
    assert parallel.l2_cache_bytes(str(tmp_path / "missing")) == parallel.L2_DEFAULT
