"""A rank that fails makes the whole MPI run end with an error, soon, instead of hanging."""

import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from mpi_helpers import launch  # noqa: E402

BOUND = 30            # seconds: mpirun start-up is a few; a hang would run into the timeout


def _rank_fails(world, how):
    """Rank 1 fails while rank 0 waits for it in an Allreduce."""
    buffer = np.ones(1000, dtype=np.float32)
    world.Allreduce_sum(buffer)                       # both ranks are up and talking
    if world.rank == 1:
        if how == "raise":
            raise RuntimeError("rank 1 broke on purpose")
        if how == "abort":
            world.abort("rank 1 found a problem on purpose")
        os.kill(os.getpid(), signal.SIGKILL)          # as the out-of-memory killer would
    world.Allreduce_sum(buffer)                       # rank 0 would wait here for ever
    return "rank 0 should not get here"


@pytest.mark.parametrize("how, says", [("raise", "[rank 1/2] RuntimeError: rank 1 broke"),
                                       ("abort", "[rank 1/2] error: rank 1 found a problem"),
                                       ("kill", "")])
def test_a_failing_rank_ends_the_run_with_an_error_in_bounded_time(how, says):
    start = time.monotonic()
    done = launch(__file__, "_rank_fails", 2, {"how": how}, timeout=BOUND)
    assert time.monotonic() - start < BOUND
    assert done.returncode != 0
    assert "rank 0 should not get here" not in done.stdout
    assert says in done.stderr
