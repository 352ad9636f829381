"""Learning-rate schedules.

plateau (the paper, section 5): "divide the learning rate by 10 when the validation error rate
    stopped improving with the current learning rate" -- here: when the validation top-1 error
    has not improved on its best for `patience` epochs. The paper started at 0.01 and divided
    three times in 90 epochs.
step: divide by 10 at fixed epochs (e.g. 30, 60, 80), the rule most replications use.
cosine: a smooth decay from lr0 to 0 over the run, set before every step (Loshchilov & Hutter,
    "SGDR", 2017, without the restarts):

        lr(t) = lr0 * 0.5 * (1 + cos(pi * t)),   t in [0, 1] the share of the run done

    lr(0) = lr0, lr(0.5) = lr0 / 2, lr(1) = 0. The training loop says what t is: the share of
    the time budget spent, or of the steps of all --epochs.
"""

import math

KINDS = ("plateau", "step", "constant", "cosine")


def cosine(lr0, t):
    """lr0 * 0.5 * (1 + cos(pi * t)), with t clipped to [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    return lr0 * 0.5 * (1 + math.cos(math.pi * t))


class LRSchedule:
    def __init__(self, lr, kind="plateau", patience=1, steps=(), factor=0.1, min_lr=1e-6):
        if kind not in KINDS:
            raise ValueError(f"unknown lr schedule {kind!r}: use one of {', '.join(KINDS)}")
        self.lr0, self.lr, self.kind, self.patience = lr, lr, kind, patience
        self.steps, self.factor, self.min_lr = tuple(sorted(steps)), factor, min_lr
        self.best, self.bad_epochs = float("inf"), 0

    def at(self, t):
        """The lr for the next step, `t` in [0, 1] the share of the run done (cosine only;
        the other kinds change only at the end of an epoch)."""
        if self.kind == "cosine":
            self.lr = cosine(self.lr0, t)
        return self.lr

    def end_of_epoch(self, epoch, val_error=None):
        """Update after `epoch` (0-based) finished; returns the lr for the next epoch."""
        if self.kind == "step":
            if epoch + 1 in self.steps:
                self._drop()
        elif self.kind == "plateau" and val_error is not None:
            if val_error < self.best - 1e-9:
                self.best, self.bad_epochs = val_error, 0
            else:
                self.bad_epochs += 1
                if self.bad_epochs >= self.patience:
                    self._drop()
                    self.bad_epochs = 0
        return self.lr

    def _drop(self):
        self.lr = max(self.lr * self.factor, self.min_lr)

    def state(self):
        return {"lr": self.lr, "best": self.best, "bad_epochs": self.bad_epochs}

    def load_state(self, state):
        self.lr, self.best = float(state["lr"]), float(state["best"])
        self.bad_epochs = int(state["bad_epochs"])
