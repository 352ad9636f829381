"""Checks for the notebooks' exercises: an answer against numpynet, a hand value or a numerical
gradient, with a clear RIGHT or WRONG and what was expected, never a traceback.

    from numpynet.exercises import check, check_backward, check_function, check_layer, yours_or

    check("pool1 at crop 99", guess, 11)             # a value (number, tuple, array); a guess
                                                     # still None gets NO ANSWER and the value
    check("the starting loss", answer, np.log(C), solution=solution_start_loss)
                                                     # None: the folded solution's value, checked
    check_function("conv forward", conv_forward_loops, naive.conv_forward, cases)
                                                     # your function against a reference, on
                                                     # argument tuples: cases = [(x, W, b), ...]
    check_backward("ReLU backward", relu_backward, relu_forward, cases)
                                                     # backward(dout, x) against finite
                                                     # differences of forward(x): cases [(x,)]
    check_backward("conv backward", conv_backward, conv_forward, cases, wrt=3)
                                                     # backward(dout, x, W, b, ...) -> (dx, dW,
                                                     # db): the first three arguments' gradients
    check_loss_backward("softmax-CE backward", backward, loss, cases)
                                                     # backward(z, labels) -> dL/dz against
                                                     # finite differences of loss(z, labels)
    check_network("tiny AlexNet", net, loss_fn, x, labels)
                                                     # a whole network's gradient, end to end
    check_layer("my LRN", layer, x)                  # a layer's backward (numpynet.gradcheck)
    relu_backward = yours_or(relu_backward, solution)    # yours, or the folded solution while
                                                         # yours still returns None

How a notebook uses them: an exercise cell holds a function to fill in (`# YOUR CODE HERE`,
`return None`); a folded cell after it (tag "solution", source hidden) defines the solution and
calls `yours_or`, so the notebook runs top to bottom before the learner has written anything;
a check cell then says RIGHT or WRONG. A check of a solution's answer says so in its verdict
("with the folded solution"), so nobody mistakes it for their own.

Every check prints one verdict and returns it (a `Verdict`, true when right). A wrong answer,
an exception inside the learner's function or a function that returns None is a WRONG line
naming the first case that fails (and the hint, if the notebook gives one), not an exception.
Only a bug of the notebook itself raises: an answer that came from its folded solution and
still fails its check is a `SolutionError`, which makes the test suite (it runs the notebooks
with the solutions) fail.
"""

import inspect
from dataclasses import dataclass

import numpy as np

from .gradcheck import check_layer as check_layer_errors
from .gradcheck import central_difference, numerical_gradient, relative_error

TOLERANCE = 1e-6        # relative error below which a gradient counts as right (float64)
NETWORK_TOLERANCE = 1e-5    # the same for a whole network: one pixel moves its loss so little
                            # (gradients ~1e-7) that the loss's rounding alone gives ~1e-6


class SolutionError(AssertionError):
    """The notebook's own solution fails its check: a bug in the notebook, not the learner's."""


@dataclass
class Verdict:
    """The outcome of one check: `right`, and the line that was printed."""
    name: str
    right: bool
    message: str

    def __bool__(self):
        return self.right

    def __repr__(self):
        return self.message

    def _ipython_display_(self):
        pass                # printed already: a check as a cell's last line shows it once


class _YoursOrSolution:
    """Calls your function; where it returns None (still the template), the solution."""

    def __init__(self, yours, solution):
        self.yours, self.solution, self.used_solution = yours, solution, False
        self.__signature__ = inspect.signature(solution)
        self.__name__ = getattr(yours, "__name__", "yours")

    def __call__(self, *args, **kwargs):
        result = self.yours(*args, **kwargs)
        self.used_solution = result is None
        return self.solution(*args, **kwargs) if result is None else result


class _Solved(_YoursOrSolution):
    """The solution alone, marked as such (there was no function of yours at all)."""

    def __init__(self, solution):
        super().__init__(lambda *args, **kwargs: None, solution)


def yours_or(yours, solution):
    """`yours` where it gives an answer, else `solution`.

    yours None       -> the solution (a value or a function)
    yours a function -> a function that runs yours and, for a call where it returns None (the
                        exercise's template), the solution instead; checks say which ran.
    """
    if yours is None:
        return _Solved(solution) if callable(solution) else solution
    if isinstance(yours, _YoursOrSolution):     # the solution cell run twice: unwrap
        yours = yours.yours
    if callable(yours):
        return _YoursOrSolution(yours, solution)
    return yours


def _difference(got, want, rtol, atol):
    """None when `got` matches `want`, else one line saying how they differ."""
    if isinstance(want, (tuple, list)) and not np.isscalar(want) and _is_nested(want):
        got = list(got) if isinstance(got, np.ndarray) else got
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            return f"expected {len(want)} results, got {_show(got)}"
        for i, (g, w) in enumerate(zip(got, want)):
            if (why := _difference(g, w, rtol, atol)) is not None:
                return f"result {i}: {why}"
        return None
    if got is None:
        return f"got None (no answer yet), expected {_show(want)}"
    try:
        got_a, want_a = np.asarray(got), np.asarray(want)
    except (ValueError, TypeError):
        return f"got {_show(got)}, expected {_show(want)}"
    if got_a.shape != want_a.shape:
        return f"shape {got_a.shape}, expected {want_a.shape} ({_show(want)})"
    if want_a.dtype.kind in "iuf" and got_a.dtype.kind in "biuf":
        if np.allclose(got_a, want_a, rtol=rtol, atol=atol):
            return None
        if want_a.ndim == 0:
            return f"got {_show(got)}, expected {_show(want)}"
        worst = np.unravel_index(np.argmax(np.abs(got_a - want_a)), want_a.shape)
        wrong = int(np.sum(~np.isclose(got_a, want_a, rtol=rtol, atol=atol)))
        return (f"{wrong} of {want_a.size} values differ; the largest difference is at index "
                f"{list(map(int, worst))}: yours {got_a[worst]:.6g}, expected {want_a[worst]:.6g}")
    return None if np.array_equal(got_a, want_a) else f"got {_show(got)}, expected {_show(want)}"


def _is_nested(want):
    """A tuple of results (arrays, tuples) rather than one small vector of numbers."""
    return any(isinstance(w, (np.ndarray, tuple, list)) for w in want)


def _show(value):
    """A short description: small values in full, arrays by shape."""
    if isinstance(value, np.ndarray) and value.size > 12:
        return f"an array of shape {value.shape}"
    return repr(value.tolist() if isinstance(value, np.ndarray) else value)


def _case(function, args):
    """'x (2, 3, 5, 5), stride 2' for an argument tuple, named after the function's parameters."""
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        names = []
    names += [f"arg{i}" for i in range(len(names), len(args))]
    return ", ".join(f"{n} {a.shape}" if isinstance(a, np.ndarray) else f"{n}={a!r}"
                     for n, a in zip(names, args))


def _copies(args):
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def _verdict(name, why, from_solution=False, hint=None):
    """Print and return the verdict; a folded solution that fails is the notebook's bug."""
    if why is None:
        note = " (with the folded solution: write yours and rerun)" if from_solution else ""
        message = f"RIGHT  {name}{note}"
    else:
        message = f"WRONG  {name}: {why}" + (f"\n       hint: {hint}" if hint else "")
        if from_solution:
            raise SolutionError(f"the notebook's own solution fails its check: {message}")
    print(message)
    return Verdict(name, why is None, message)


def check(name, answer, expected, rtol=1e-6, atol=1e-8, hint=None, solution=None):
    """Your value (a number, tuple or array) against the expected one.

    None counts as "not answered yet": the verdict says so and shows the expected value (a
    prediction is for revealing), and it is not right. Where the notebook has a folded
    solution, pass its value as `solution`: while yours is None the check is of the solution's
    value, and says so.
    """
    if answer is None and solution is not None:
        return _verdict(name, _difference(solution, expected, rtol, atol), from_solution=True,
                        hint=hint)
    if answer is None:
        message = f"NO ANSWER  {name}: it is {_show(expected)} (write yours in place of None)"
        print(message)
        return Verdict(name, False, message)
    return _verdict(name, _difference(answer, expected, rtol, atol), hint=hint)


def _run(function, args):
    """function(*copies of args), or the exception it raised as one line."""
    try:
        return function(*_copies(args)), None
    except Exception as error:                      # the learner's bug, reported, not raised
        return None, f"raised {type(error).__name__}: {error}"


def _first_failure(yours, cases, expected_of, uses=None):
    """(why, from_solution): the first case on which yours fails as one line, and whether
    that call ran the folded solution; (None, whether any call did) when all pass. `uses`:
    the function (from `yours_or`) that says whether the solution ran, if not `yours`."""
    any_solution = False
    for number, args in enumerate(cases, start=1):
        got, error = _run(yours, args)
        from_solution = getattr(uses or yours, "used_solution", False)   # set by this very call
        why = error or expected_of(args, got)
        if why is not None:
            return f"case {number} of {len(cases)} ({_case(yours, args)}): {why}", from_solution
        any_solution |= from_solution
    return None, any_solution


def check_function(name, yours, reference, cases, rtol=1e-6, atol=1e-8, hint=None, uses=None):
    """yours(*args) against reference(*args) for every argument tuple in `cases`.

    Each call gets its own copies of the arrays, so a function that changes its input cannot
    change what the other one sees. Stops at the first case that differs and says which.
    `uses`: where `yours` wraps the learner's function (a `yours_or`), that function, so that
    the verdict can say when its solution ran.
    """
    def difference(args, got):
        return _difference(got, reference(*_copies(args)), rtol, atol)

    return _verdict(name, *_first_failure(yours, cases, difference, uses), hint=hint)


def _parameter_names(function, count):
    """The names of function's first `count` parameters ('x', 'W', 'b'), or arg0, arg1, ..."""
    try:
        names = list(inspect.signature(function).parameters)[:count]
    except (TypeError, ValueError):
        names = []
    return names + [f"arg{i}" for i in range(len(names), count)]


def _gradient_difference(got, numerics, names, tolerance):
    """None when every gradient in `got` (one array, or a tuple of len(numerics)) is within
    `tolerance` relative error of its numerical gradient, else one line naming the first bad one."""
    if len(numerics) == 1:
        got = (got,)
    elif got is None or not isinstance(got, (tuple, list)) or len(got) != len(numerics):
        return (f"expected a tuple of {len(numerics)} gradients "
                f"({', '.join('d' + n for n in names)}), got {_show(got)}")
    for g, numeric, n in zip(got, numerics, names):
        if g is None or np.shape(g) != numeric.shape:
            why = _difference(g, numeric, 0, 0)     # no answer, or the wrong shape
            return why if len(numerics) == 1 else f"d{n}: {why}"
        error = relative_error(g, numeric)
        if not error < tolerance:                   # (NaN is wrong too)
            return (f"{'' if len(numerics) == 1 else f'd{n}: '}relative error {error:.1e} "
                    f"against the numerical gradient (right: below {tolerance:g})")
    return None


def check_backward(name, backward, forward, cases, wrt=1, tolerance=TOLERANCE, seed=0,
                   hint=None):
    """A backward function against finite differences of its forward pass.

    Each case is (x, *extra): forward(x, *extra) -> y, and backward(dout, x, *extra) -> dL/dx for
    L = sum(forward(x) * dout) with a fixed random dout. With wrt=k, backward returns a tuple of
    the gradients of forward's first k arguments (conv: wrt=3, (dx, dW, db)). Right when each
    relative error is below `tolerance` (run in float64: see numpynet/gradcheck.py).
    """
    rng = np.random.default_rng(seed)
    names = _parameter_names(forward, wrt)

    def difference(args, got):
        dout, inputs = args[0], args[1:]
        inputs = tuple(np.array(a, dtype=np.float64) if i < wrt else a
                       for i, a in enumerate(inputs))

        def loss():
            return float(np.sum(forward(*inputs) * dout))
        numerics = [numerical_gradient(loss, inputs[i]) for i in range(wrt)]
        return _gradient_difference(got, numerics, names, tolerance)

    with_dout = []
    for args in cases:
        args = tuple(np.array(a, dtype=np.float64) if i < wrt else a for i, a in enumerate(args))
        with_dout.append((rng.standard_normal(np.shape(forward(*args))), *args))
    return _verdict(name, *_first_failure(backward, with_dout, difference), hint=hint)


def check_loss_backward(name, backward, loss, cases, tolerance=TOLERANCE, hint=None):
    """backward(z, *extra) -> dL/dz against finite differences of the scalar loss(z, *extra),
    for each case (z, *extra), e.g. (logits, labels)."""
    names = _parameter_names(loss, 1)

    def difference(args, got):
        z, extra = np.array(args[0], dtype=np.float64), args[1:]
        numeric = numerical_gradient(lambda: float(loss(z, *extra)), z)
        return _gradient_difference(got, [numeric], names, tolerance)

    cases = [(np.array(z, dtype=np.float64), *extra) for z, *extra in cases]
    return _verdict(name, *_first_failure(backward, cases, difference), hint=hint)


def network_gradient_errors(net, loss_fn, x, labels, samples=6, seed=0, h=1e-5):
    """{"<layer>.<param>": relative error} of `net`'s backward pass (through every layer's own
    backward, Sequential.backward) against central differences of the loss, on `samples`
    entries of each parameter (all of a small one), and "input" for x: the half with the
    largest gradients and the rest at random. (On entries whose gradient is tiny, ~1e-8, the
    loss's rounding error over h alone gives relative errors of 1e-4; among the large ones it
    stays near 1e-10.)

    The network must be deterministic between calls (dropout with a fixed mask) and in float64.
    Sampling keeps it fast: every entry costs two forward passes of the whole network. The
    nudge is h times the entry's size (pixels of +-100 need more than 1e-5 to move the loss
    above its rounding), and ten times that for the input, whose gradient is the smallest.
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)

    def loss():
        return float(loss_fn.forward(net.forward(x, train=True), labels))

    loss()
    dx = net.backward(loss_fn.backward())
    analytic = {f"{layer.name}.{k}": (p, layer.grads[k]) for layer in net
                for k, p in layer.params.items()}
    analytic["input"] = (x, dx)
    errors = {}
    for key, (param, grad) in analytic.items():
        flat, size = param.reshape(-1), np.abs(np.asarray(grad)).reshape(-1)
        largest = np.argsort(size)[::-1][:samples // 2]     # rounding shows on tiny gradients
        others = np.setdiff1d(np.arange(param.size), largest)
        picked = np.concatenate([largest, rng.choice(others, min(samples - len(largest),
                                                                 len(others)), replace=False)])
        numeric = np.empty(len(picked))
        for n, i in enumerate(picked):
            step = (h if key != "input" else 10 * h) * max(1.0, abs(flat[i]))   # see below
            numeric[n] = central_difference(loss, flat, i, step)
        errors[key] = relative_error(np.asarray(grad).reshape(-1)[picked], numeric)
    return errors


def check_network(name, net, loss_fn, x, labels, samples=6, tolerance=NETWORK_TOLERANCE, seed=0,
                  hint=None):
    """A whole network's gradient (every parameter, and the input) against finite differences
    of its loss, end to end (network_gradient_errors), as a verdict naming the worst one."""
    try:
        errors = network_gradient_errors(net, loss_fn, x, labels, samples, seed)
    except Exception as error:                      # the learner's bug, reported, not raised
        return _verdict(name, f"raised {type(error).__name__}: {error}", hint=hint)
    worst = max(errors, key=lambda k: (np.nan_to_num(errors[k], nan=np.inf), k))
    if errors[worst] < tolerance:
        return _verdict(f"{name} ({len(errors)} gradients, the largest relative error "
                        f"{errors[worst]:.1e}, in {worst})", None)
    bad = [k for k, e in errors.items() if not e < tolerance]
    return _verdict(name, f"{len(bad)} of {len(errors)} gradients are off: the largest "
                          f"relative error is {errors[worst]:.1e}, in {worst} (wrong also: "
                          f"{', '.join(bad[:6])}{', ...' if len(bad) > 6 else ''})", hint=hint)


def check_layer(name, layer, x, forward=None, tolerance=TOLERANCE, hint=None):
    """A layer's backward pass (dx and every parameter's gradient) against finite differences:
    numpynet.gradcheck.check_layer, as a verdict. Give the layer float64 parameters."""
    try:
        errors = check_layer_errors(layer, x, forward=forward)
    except Exception as error:                      # the learner's bug, reported, not raised
        return _verdict(name, f"raised {type(error).__name__}: {error}", hint=hint)
    shown = ", ".join(f"d{k} {v:.1e}" for k, v in errors.items())
    why = None if max(errors.values()) < tolerance else (
        f"relative errors {shown} (right: below {tolerance:g})")
    return _verdict(name if why else f"{name} (relative errors {shown})", why, hint=hint)
