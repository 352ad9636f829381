"""The cosine learning-rate schedule, checked by hand."""

import pytest

from numpynet.schedule import LRSchedule, cosine


def test_cosine_by_hand():
    # lr(t) = lr0 * 0.5 * (1 + cos(pi * t)): cos 0 = 1, cos(pi/2) = 0, cos(pi) = -1
    assert cosine(0.01, 0.0) == pytest.approx(0.01)
    assert cosine(0.01, 0.5) == pytest.approx(0.005)
    assert cosine(0.01, 1.0) == pytest.approx(0.0, abs=1e-15)
    assert cosine(0.01, 0.25) == pytest.approx(0.01 * 0.5 * (1 + 2 ** -0.5))
    assert cosine(0.01, -1) == cosine(0.01, 0) and cosine(0.01, 2) == cosine(0.01, 1)


def test_cosine_schedule_is_set_per_step_and_ignores_epoch_ends():
    schedule = LRSchedule(0.02, "cosine")
    assert schedule.at(0.5) == pytest.approx(0.01)
    assert schedule.end_of_epoch(0, val_error=0.9) == pytest.approx(0.01)   # no plateau drop
    assert schedule.at(0.0) == pytest.approx(0.02)                          # from lr0 again


def test_other_schedules_ignore_the_step_position():
    step = LRSchedule(0.01, "step", steps=(1,))
    assert step.at(0.9) == 0.01
    step.end_of_epoch(0)
    assert step.at(0.0) == pytest.approx(0.001)


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="cosine"):
        LRSchedule(0.01, "linear")
