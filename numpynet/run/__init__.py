"""A training run, by concern (numpynet/train.py is its command line and its outer loop):

    run/loop.py     Run: the data, the network, the optimiser and the schedule of one run;
                    its epoch of steps, the validation after it, its checkpoints
    run/stop.py     stopping: Ctrl-C and signals (StopRequest), --time-budget (TimeBudget)
    run/records.py  what a run writes besides checkpoints: metrics.csv, curves and filters
"""

from .loop import Run, TrainingDiverged
from .stop import RunStopped, StopRequest, TimeBudget

__all__ = ["Run", "RunStopped", "StopRequest", "TimeBudget", "TrainingDiverged"]
