"""The benchmark runs and prints its tables (no timing is checked: the machines are shared)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from numpynet import costs
from numpynet.bench import cli, runners
from numpynet.bench.timing import Clock
from numpynet.kernels import dispatch
from numpynet.models import INPUT_SHAPE, alexnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_bench(*flags):
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "numpynet.bench", *flags], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_bench_prints_its_tables():
    done = run_bench("--small", "--batch", "2", "--repeats", "1", "--warmup", "0",
                     "--compare", "torch", "--threads", "1")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for text in ("matrix-product peak", "training step", "inference", "img/s", "GFLOP/s",
                 "numpynet's first step", "per layer", "conv1", "norm2", "fc8", "inside Conv2D",
                 "CPU ms", "cores", "layout moves", "matrix products", "% of the peak",
                 "peak memory while training", "numpynet   peak"):
        assert text in out, f"{text!r} missing from:\n{out}"
    try:
        import torch  # noqa: F401
        assert "PyTorch" in out and "speed numpynet / PyTorch" in out
        assert "same network, same weights" in out and "numpynet / PyTorch peak" in out
    except ImportError:
        assert "comparison skipped" in out


def test_ranks_compares_one_process_with_data_and_model_parallel_ranks():
    from numpynet.bench.ranks import mpirun_command
    if mpirun_command() is None or importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpirun / mpi4py not installed (pip install 'numpynet[mpi]')")
    done = run_bench("--ranks", "2", "--small", "--batch", "4", "--repeats", "1",
                     "--warmup", "0", "--threads", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for text in ("1 process x 2 threads", "2 ranks x 1 thread(s), data parallel, overlap",
                 "data parallel, no overlap", "model parallel (the paper's towers)",
                 "one blocking allreduce", "break-even bandwidth", "100 Gb/s"):
        assert text in out, f"{text!r} missing from:\n{out}"


def test_cost_model_is_the_ring_allreduce_formula():
    from numpynet.bench.ranks import GBIT, cost_model
    text = cost_model(step_seconds=4.0, gradient_bytes=244e6, machines=(2,), gbits=(1,))
    assert f"{2 * 244e6 / 4.0 / GBIT:.2f} Gbit/s" in text            # 2 S / t = 0.98
    speedup = 4.0 / (4.0 / 2 + 244e6 / GBIT)                          # P = 2: 2 (P-1)/P = 1
    assert f"{speedup:.2f}x" in text


def test_memory_child_reports_json():
    done = run_bench("--child", "memory", "--small", "--batch", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["peak"] >= report["before"] > 0


def test_gpu_without_cupy_is_a_one_line_error():
    pytest.importorskip("numpynet.gpu.kernels")
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed here")
    except ImportError:
        pass
    done = run_bench("--device", "gpu", "--small", "--batch", "1", "--repeats", "1",
                     "--no-memory")
    assert done.returncode != 0
    assert done.stderr.strip().startswith("error: the GPU backend needs CuPy")
    assert "Traceback" not in done.stderr


def test_flops_of_alexnet():
    """The paper's network: conv1 does 105,415,200 multiply-adds per image (costs.py);
    a training step does forward + 2x forward, less conv1's input gradient."""
    net = alexnet(1000)
    flops = costs.step_flops(net, INPUT_SHAPE, batch=1)
    assert flops["conv1"] == (2 * 105_415_200, 2 * 105_415_200)
    assert flops["conv2"][1] == 2 * flops["conv2"][0]
    forward = sum(f for f, _ in flops.values())
    assert 1.4e9 < forward < 1.5e9                     # ~724M multiply-adds per image
    assert costs.step_flops(net, INPUT_SHAPE, batch=1, train=False)["fc6"] == (2 * 9216 * 4096, 0)


def test_startup_child_runs_a_training_step():
    done = run_bench("--child", "startup", "--small", "--batch", "1", "--threads", "1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True}


def test_restart_environment_sets_the_thread_variables(monkeypatch):
    args = cli.parse_args(["--threads", "3", "--blas-core", "keep"])
    for name in cli.THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")   # whatever the machine pins: not the ask
    env = cli.restart_environment(args)
    assert all(env[name] == "3" for name in cli.THREAD_VARIABLES)
    assert "OPENBLAS_CORETYPE" not in env                # keep: the environment's kernels
    monkeypatch.setattr(os, "environ", {**os.environ, **env})
    assert cli.restart_environment(args) is None      # already set: no restart
    args = cli.parse_args(["--threads", "3", "--blas-core", "SkylakeX"])
    assert cli.restart_environment(args) == {"OPENBLAS_CORETYPE": "SkylakeX",
                                               **{name: "3" for name in cli.THREAD_VARIABLES}}


def test_conv_kernels_are_timed_through_the_dispatch_hook():
    """The im2col/col2im rows come from dispatch.instrument, not from patching the engine:
    the conv kernels are timed, other kernels run untimed, results pass through."""
    times, cpu = {}, {}
    times_k = lambda x, k: x * k                                        # noqa: E731
    im2col = dispatch.Kernel("im2col", reference=times_k, numba=times_k)   # not registered
    relu = dispatch.Kernel("relu_forward", reference=lambda x: max(x, 0),
                           numba=lambda x: max(x, 0))
    with dispatch.instrument(runners.conv_kernel_timer(Clock("cpu"), times, cpu)):
        assert im2col(3, 2) == 6 and im2col(1, 5) == 5
        assert relu(-1) == 0
    assert list(times) == [("im2col", "kernel")] and len(times["im2col", "kernel"]) == 2
    assert list(cpu) == [("im2col", "kernel")] and len(cpu["im2col", "kernel"]) == 2
    assert im2col(2, 2) == 4 and len(times["im2col", "kernel"]) == 2    # hook gone


def test_timed_records_the_process_cpu_time_of_each_call():
    times, cpu = {}, {}
    busy = runners.timed(Clock("cpu"), times, lambda: sum(i * i for i in range(200_000)),
                         ("busy", "forward"), cpu)
    busy()
    assert cpu["busy", "forward"][0] > 0
    # one thread computing: its CPU time is about its wall time (never twice it)
    assert cpu["busy", "forward"][0] < 2 * times["busy", "forward"][0] + 0.01


def test_layer_table_shows_cores_as_cpu_over_wall():
    """cores = the layer's CPU time / its wall time, over forward and backward together."""
    from numpynet.bench.report import layer_times_table
    from numpynet.layers import ReLU, Sequential
    net = Sequential(ReLU(name="relu1"), ReLU(name="relu2"))
    times = {("relu1", "forward"): [0.010], ("relu1", "backward"): [0.030],
             ("relu2", "forward"): [0.020], ("relu2", "backward"): [0.020],
             ("step", "total"): [0.100]}
    cpu = {("relu1", "forward"): [0.020], ("relu1", "backward"): [0.060],
           ("relu2", "forward"): [0.020], ("relu2", "backward"): [0.020]}
    table = layer_times_table(net, times, {"relu1": (0, 0), "relu2": (0, 0)}, cpu=cpu)
    rows = {line.split()[0]: line.split() for line in table.splitlines()}
    assert rows["relu1"][-2:] == ["80.0", "2.00"]        # 20 + 60 ms of CPU in 40 ms
    assert rows["relu2"][-2:] == ["40.0", "1.00"]
    assert "cores" not in layer_times_table(net, times, {"relu1": (0, 0), "relu2": (0, 0)})


def test_products_line_is_conv_less_its_kernels_plus_linear():
    """(conv 300 ms - im2col 100 ms) + fc 100 ms = 300 ms of products a step, for 2 + 1 GFLOP:
    10 GFLOP/s, 50% of a 20 GFLOP/s peak; 60% of a 500 ms step."""
    from numpynet.bench.report import layer_times_table
    from numpynet.layers import Conv2D, Linear, Sequential
    net = Sequential(Conv2D(1, 2, 3, name="conv1"), Linear(4, 2, name="fc1"))
    times = {("conv1", "forward"): [0.1], ("conv1", "backward"): [0.2],
             ("fc1", "forward"): [0.05], ("fc1", "backward"): [0.05],
             ("im2col", "kernel"): [0.06, 0.04], ("step", "total"): [0.5]}
    flops = {"conv1": (1e9, 1e9), "fc1": (0.5e9, 0.5e9)}
    table = layer_times_table(net, times, flops, peak=20)
    assert "matrix products (Conv2D less the kernels above, and Linear): 300 ms (60.0%) at " \
           "10 GFLOP/s, 50% of the peak" in table
