"""Stopping a run cleanly: on a signal (StopRequest), or when --time-budget is spent."""

import signal
import sys
import time


class StopRequest:
    """Ctrl-C (SIGINT), SIGTERM or SIGUSR1 sets a flag that the loop checks between steps, so a
    checkpoint is never written from half-updated weights; a second one interrupts at once.
    (SIGUSR1 is what `mpirun` passes on to every rank without ending them.)"""

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1")
                    if hasattr(signal, name))

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self.previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{signal.Signals(signum).name}: stopping after this step (again to abort "
              f"without saving)...", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


class RunStopped(KeyboardInterrupt):
    """The run stopped on request, after saving its checkpoint (on every rank alike)."""


class TimeBudget:
    """--time-budget: wall time since the first training step of this invocation.

    `clock()` returns seconds (time.monotonic; tests pass a fake one). Without a budget
    (minutes None) it is never spent and has no fraction.
    """

    def __init__(self, minutes, clock=time.monotonic):
        self.seconds = None if minutes is None else 60 * minutes
        self.clock, self.started = clock, None

    def start(self):
        """Called before every step; the first call starts the clock."""
        if self.started is None:
            self.started = self.clock()

    def fraction(self):
        """Share of the budget spent, 0 before the first step (may pass 1)."""
        if self.started is None:
            return 0.0
        return (self.clock() - self.started) / self.seconds

    def spent(self):
        return self.seconds is not None and self.fraction() >= 1
