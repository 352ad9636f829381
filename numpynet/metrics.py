"""Top-k error: the paper's two numbers (section 1: "top-1 and top-5 error rates").

A prediction is top-k correct when the true label is among the k highest scores. The paper
reports error = 1 - accuracy; on ImageNet top-5 forgives confusions between look-alike classes
(a leopard called a jaguar), which top-1 counts as wrong.
"""

import numpy as np

from . import backend


def softmax(logits):
    """Row-wise softmax, shifted by the row maximum so that exp never overflows."""
    xp = backend.get_array_module(logits)
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def topk_correct(scores, labels, k):
    """Boolean (N,): is labels[n] among the k largest scores[n]? (k is capped at the classes.)"""
    xp = backend.get_array_module(scores)
    k = min(k, scores.shape[1])
    top = xp.argpartition(-scores, k - 1, axis=1)[:, :k]                 # (N, k), unordered
    return (top == xp.asarray(labels)[:, None]).any(axis=1)


def topk_error(scores, labels, k):
    """Fraction of rows whose label is not among the k largest scores."""
    return 1.0 - float(topk_correct(scores, labels, k).mean())


class ErrorMeter:
    """Running loss and top-1 / top-5 counts over many batches."""

    def __init__(self, ks=(1, 5)):
        self.ks = ks
        self.reset()

    def reset(self):
        self.n, self.loss_sum = 0, 0.0
        self.correct = {k: 0 for k in self.ks}

    def update(self, scores, labels, loss=None):
        n = len(labels)
        self.n += n
        if loss is not None:
            self.loss_sum += loss * n
        for k in self.ks:
            self.correct[k] += int(topk_correct(scores, labels, k).sum())

    def loss(self):
        return self.loss_sum / max(self.n, 1)

    def error(self, k):
        return 1.0 - self.correct[k] / max(self.n, 1)

    def counts(self):
        """{"n", "loss_sum", "top1", "top5"}: what the meter has summed, as numbers that add up
        across meters (a data-parallel run sums its ranks' with parallel.reduce_counts)."""
        return {"n": self.n, "loss_sum": self.loss_sum,
                **{f"top{k}": self.correct[k] for k in self.ks}}

    def add(self, counts):
        """Add another meter's `counts()` (e.g. the sum over ranks) to this one."""
        self.n += int(counts["n"])
        self.loss_sum += float(counts["loss_sum"])
        for k in self.ks:
            self.correct[k] += int(counts[f"top{k}"])

    def state(self):
        return {"n": self.n, "loss_sum": self.loss_sum,
                "correct": {str(k): v for k, v in self.correct.items()}}

    def load_state(self, state):
        self.n, self.loss_sum = int(state["n"]), float(state["loss_sum"])
        self.correct = {int(k): int(v) for k, v in state["correct"].items()}


def top5_table(probs, names, k=5):
    """[(name, probability), ...] for the k most probable classes of one probability vector."""
    probs = backend.to_numpy(probs)
    order = np.argsort(-probs)[:k]
    return [(names[i], float(probs[i])) for i in order]


def confusion_matrix(labels, predictions, num_classes=None):
    """counts[t, p] = how many images of true class t were predicted as p (NumPy arrays)."""
    labels, predictions = np.asarray(labels, dtype=int), np.asarray(predictions, dtype=int)
    if num_classes is None:
        num_classes = int(max(labels.max(initial=-1), predictions.max(initial=-1))) + 1
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts
