"""Every environment variable numpynet reads, and the two it sets, in one list.

    python -m numpynet.config          # the list, with the values in force now

numpynet reads its own variables only through this module, so the list is complete (a test
greps the tree to keep it so): a module that wants a new variable declares it in SETTINGS
first. Each has a default and a meaning; those with a fixed set of values (`choices`) are
checked, and a bad value is a one-line error that names the variable:

    get(name)        the value, or the declared default when unset or empty
    flag(name)       a 0/1 setting as a bool
    given(name)      the value, or None when unset or empty (for defaults that depend on
                     where numpynet runs, such as folders inside the checkout)
    default(name)    the declared default

What `import numpynet` changes in the process, and nothing else:
- OPENBLAS_THREAD_TIMEOUT=4, put into os.environ by numpynet.openblas.apply_defaults() before
  NumPy loads OpenBLAS, unless it is set already, NumPy was imported first (too late), or
  NUMPYNET_BLAS_DEFAULTS=0 (numpynet/openblas.py says why);
- Numba's threading layer `workqueue` (numba.config, not os.environ), chosen when the Numba
  kernels are first imported, unless NUMBA_THREADING_LAYER is set (numpynet/kernels/__init__.py
  says why).

This module imports nothing but the standard library: numpynet/openblas.py reads it before
NumPy is loaded.
"""

import os
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    name: str
    default: str | None         # None: unset means "not given"
    meaning: str
    read_by: str
    choices: tuple = ()         # allowed values, if it has a fixed set


class SettingError(ValueError):
    """A numpynet environment variable with a value it cannot take."""


SETTINGS = (
    Setting("NUMPYNET_KERNELS", "fast",
            "which implementation of the hot loops the layers run: 'fast' (Numba on the CPU, "
            "CUDA kernels on a GPU) or 'reference' (the plain NumPy definitions)",
            "numpynet.kernels.dispatch", ("fast", "reference")),
    Setting("NUMPYNET_DATA", "data/imagenet",
            "the ImageNet folder used when --data is not given (default relative to the "
            "checkout; for an installed numpynet, to the current folder)",
            "numpynet.data.layout, numpynet.train"),
    Setting("NUMPYNET_CACHE", "data/cache",
            "where preprocessed datasets are cached (default relative to the checkout; an "
            "installed numpynet uses ~/.cache/numpynet/cache, or $XDG_CACHE_HOME/numpynet/cache)",
            "numpynet.data.cache"),
    Setting("NUMPYNET_BLAS_DEFAULTS", "1",
            "0: leave the environment alone on import (no OPENBLAS_THREAD_TIMEOUT default)",
            "numpynet.openblas", ("0", "1")),
    Setting("NUMPYNET_QUICK", "0",
            "1: the notebooks run with tiny settings (the test suite's quick mode)",
            "notebooks/", ("0", "1")),
    Setting("NUMPYNET_RUNS", "runs",
            "where the notebooks write their training runs (relative: to the checkout)",
            "notebooks/"),
    Setting("NUMPYNET_SHARED_DATA", "../shared/data",
            "real sample photos beside the checkout, used by tests and notebooks when present "
            "(relative: to the checkout)",
            "tests/, notebooks/"),
    Setting("NUMPYNET_WEIGHTS", None,
            "a Caffe AlexNet (bvlc_alexnet.caffemodel) that notebook 5 shows the trained "
            "figure 3 of; unset: it shows its own short run's kernels",
            "notebooks/"),
    Setting("NUMPYNET_BENCH_RESTARTED", None,
            "internal: marks the process the benchmark restarted with its thread settings",
            "numpynet.bench"),
)

SET_ON_IMPORT = (
    ("OPENBLAS_THREAD_TIMEOUT", "4", "numpynet.openblas.apply_defaults"),
    ("NUMBA_THREADING_LAYER", "workqueue (numba.config, not os.environ)", "numpynet.kernels"),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name):
    """The declared `Setting` called `name` (a clear error for an undeclared one)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name} is not a numpynet setting; declare it in numpynet/config "
                       f"(known: {', '.join(_BY_NAME)})") from None


def default(name):
    """The declared default of `name` (None: no default)."""
    return setting(name).default


def given(name):
    """The value of environment variable `name`, or None when it is unset or empty; checked
    against its choices, with an error that says which variable to fix."""
    s = setting(name)
    value = os.environ.get(name)
    if value is None or value == "":
        return None
    if s.choices and value not in s.choices:
        raise SettingError(f"environment variable {name}={value!r}: use one of "
                           f"{', '.join(s.choices)} (or unset it: default {s.default!r})")
    return value


def get(name):
    """The value of environment variable `name`, or its declared default (see `given`)."""
    value = given(name)
    return default(name) if value is None else value


def flag(name):
    """A 0/1 setting as a bool."""
    return get(name) == "1"


def problems():
    """One line for each numpynet variable set to a value it cannot take (empty: all fine)."""
    found = []
    for s in SETTINGS:
        try:
            given(s.name)
        except SettingError as error:
            found.append(str(error))
    return found


def describe():
    """The table `python -m numpynet.config` prints."""
    lines = ["numpynet's environment variables (value now, default, meaning):", ""]
    for s in SETTINGS:
        now = os.environ.get(s.name)
        shown = f"{now!r}" if now is not None else "unset"
        lines.append(f"{s.name}  now {shown}, default {s.default!r}")
        lines.append(f"    {s.meaning}; read by {s.read_by}")
        if s.choices:
            lines.append(f"    values: {', '.join(s.choices)}")
    lines += ["", "set by numpynet when imported (never over a value you set):"]
    for name, value, by in SET_ON_IMPORT:
        lines.append(f"  {name}={value}  ({by})")
    return "\n".join(lines)


USAGE = "usage: python -m numpynet.config [-h] [--version]"


def version():
    """numpynet's version (its one source: numpynet/__init__.py; the package is imported before
    any of its modules, so this reads it without importing anything)."""
    return sys.modules["numpynet"].__version__


def main(argv=None):
    """Print the table; exit status 1 (and the errors on stderr) if a value is bad."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(f"{USAGE}\n\n{__doc__.strip()}")
        return 0
    if args and args[0] == "--version":
        print(f"numpynet {version()}")
        return 0
    if args:
        print(f"{USAGE}\nerror: unexpected argument {args[0]!r}", file=sys.stderr)
        return 2
    print(describe())
    errors = problems()
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return 1 if errors else 0

