"""Learning-rate schedules.

plateau (the paper, section 5): "divide the learning rate by 10 when the validation error rate
    stopped improving with the current learning rate" -- here: when the validation top-1 error
    has not improved on its best for `patience` epochs. The paper started at 0.01 and divided
    three times in 90 epochs.
step: divide by 10 at fixed epochs (e.g. 30, 60, 80), the rule most replications use.
"""


class LRSchedule:
    def __init__(self, lr, kind="plateau", patience=1, steps=(), factor=0.1, min_lr=1e-6):
        if kind not in ("plateau", "step", "constant"):
            raise ValueError(f"unknown lr schedule {kind!r}: use plateau, step or constant")
        self.lr, self.kind, self.patience = lr, kind, patience
        self.steps, self.factor, self.min_lr = tuple(sorted(steps)), factor, min_lr
        self.best, self.bad_epochs = float("inf"), 0

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
