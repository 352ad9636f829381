"""numpynet.config is the one list of environment variables: every NUMPYNET_* name in the tree
is declared there, only numpynet.config reads them, the command line lists them, bad values are
clear errors, and `import numpynet` changes os.environ only as numpynet.config documents."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from numpynet import config, openblas

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "NUMPYNET" + "_"                        # spelt in two parts: this file is grepped too
NAME = re.compile(PREFIX + r"[A-Z0-9_]*[A-Z0-9]")
SKIP = {"__pycache__", ".ipynb_checkpoints"}


def tree_files(*folders, suffixes=None):
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*")):
            if (path.is_file() and not SKIP & set(path.parts)
                    and (suffixes is None or path.suffix in suffixes)):
                yield path


def run(args, **env):
    """Run Python with `args` and the environment changed by `env` (None: removed)."""
    path = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    environ = {**os.environ, "PYTHONPATH": path}
    for name, value in env.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run([sys.executable, *args], env=environ, capture_output=True, text=True,
                          timeout=120)


# --- the list is complete --------------------------------------------------------------------

def test_every_numpynet_variable_in_the_tree_is_declared():
    declared = {s.name for s in config.SETTINGS}
    used = {}
    for path in tree_files("numpynet", "tests", "notebooks"):
        for name in NAME.findall(path.read_text(encoding="utf-8", errors="ignore")):
            used.setdefault(name, path.relative_to(ROOT).as_posix())
    missing = {name: where for name, where in used.items() if name not in declared}
    assert not missing, f"declare these in numpynet/config SETTINGS: {missing}"
    assert {"NUMPYNET_KERNELS", "NUMPYNET_DATA", "NUMPYNET_CACHE"} <= set(used)


def _reads_of(source):
    """Lines of `source` that read a NUMPYNET_ variable from the environment, directly or
    through a module constant such as ``DATA_ENV = "NUMPYNET_DATA"``."""
    constants = re.findall(r"^(\w+)\s*=\s*[\"']" + PREFIX, source, flags=re.M)
    name = "|".join([r"[\"']" + PREFIX] + [rf"\b{c}\b" for c in constants])
    read = re.compile(rf"environ\.get\(\s*({name})|getenv\(\s*({name})"
                      rf"|environ\[\s*({name})[^\]]*\](?!\s*=[^=])"
                      rf"|({name})[\w\"']*\s+(not\s+)?in\s+(os\.)?environ")
    return [line.strip() for line in source.splitlines() if read.search(line)]


def test_the_read_pattern_finds_direct_and_indirect_reads():
    source = ('X_ENV = "NN_X"\na = os.environ.get(X_ENV)\nb = os.getenv("NN_Y")\n'
              'c = os.environ["NN_Z"]\nif "NN_W" in os.environ: pass\n'
              'os.environ[X_ENV] = "1"\nenv = {**os.environ, X_ENV: "1"}\n')
    reads = ['a = os.environ.get(X_ENV)', 'b = os.getenv("NN_Y")', 'c = os.environ["NN_Z"]',
             'if "NN_W" in os.environ: pass']                        # not the two writes
    assert _reads_of(source.replace("NN_", PREFIX)) == [r.replace("NN_", PREFIX) for r in reads]


def test_only_config_reads_numpynet_variables():
    found = {}
    for path in tree_files("numpynet", suffixes={".py"}):
        if path.parent == ROOT / "numpynet" / "config":
            continue
        lines = _reads_of(path.read_text(encoding="utf-8"))
        if lines:
            found[path.relative_to(ROOT).as_posix()] = lines
    assert not found, f"read these through numpynet.config.get/flag/given instead: {found}"


# --- the command line ------------------------------------------------------------------------

def test_command_line_lists_every_variable_and_what_import_sets():
    done = run(["-m", "numpynet.config"], NUMPYNET_KERNELS="reference")
    assert done.returncode == 0, done.stderr
    for s in config.SETTINGS:
        assert s.name in done.stdout
    for name, _, _ in config.SET_ON_IMPORT:
        assert name in done.stdout
    assert "NUMPYNET_KERNELS  now 'reference', default 'fast'" in done.stdout


def test_help():
    done = run(["-m", "numpynet.config", "--help"])
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m numpynet.config")
    assert "get(name)" in done.stdout and "OPENBLAS_THREAD_TIMEOUT" in done.stdout
    stray = run(["-m", "numpynet.config", "--all"])
    assert stray.returncode == 2 and "unexpected argument '--all'" in stray.stderr


# --- values ----------------------------------------------------------------------------------

def test_defaults_and_given(monkeypatch):
    monkeypatch.delenv("NUMPYNET_DATA", raising=False)
    assert config.get("NUMPYNET_DATA") == "data/imagenet" and config.given("NUMPYNET_DATA") is None
    monkeypatch.setenv("NUMPYNET_DATA", "")                   # empty is unset
    assert config.get("NUMPYNET_DATA") == "data/imagenet"
    monkeypatch.setenv("NUMPYNET_DATA", "/data/ilsvrc")
    assert config.get("NUMPYNET_DATA") == config.given("NUMPYNET_DATA") == "/data/ilsvrc"
    monkeypatch.setenv("NUMPYNET_BLAS_DEFAULTS", "0")
    assert config.flag("NUMPYNET_BLAS_DEFAULTS") is False


def test_a_bad_value_is_a_one_line_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("NUMPYNET_KERNELS", "fastest")
    with pytest.raises(config.SettingError) as error:
        config.get("NUMPYNET_KERNELS")
    message = str(error.value)
    assert "\n" not in message and "NUMPYNET_KERNELS='fastest'" in message
    assert "fast, reference" in message
    assert config.problems() == [message]
    assert isinstance(error.value, ValueError)             # callers catching ValueError still do


def test_command_line_reports_a_bad_value():
    done = run(["-m", "numpynet.config"], NUMPYNET_KERNELS="fastest")
    assert done.returncode == 1 and "NUMPYNET_KERNELS  now 'fastest'" in done.stdout
    assert done.stderr.strip().splitlines()[-1] == (
        "error: environment variable NUMPYNET_KERNELS='fastest': use one of fast, reference "
        "(or unset it: default 'fast')")


def test_an_undeclared_name_is_an_error():
    with pytest.raises(KeyError, match="declare it in numpynet/config"):
        config.get(PREFIX + "NO_SUCH_SETTING")


# --- what importing numpynet changes ---------------------------------------------------------

def test_import_changes_the_environment_only_as_documented():
    code = ("import json, os; before = dict(os.environ); import numpynet, numpynet.kernels; "
            "after = dict(os.environ); "
            "print(json.dumps([{k: v for k, v in after.items() if before.get(k) != v}, "
            "[k for k in before if k not in after]]))")
    unset = dict.fromkeys(openblas.DEFAULTS, None)
    done = run(["-c", code], NUMPYNET_BLAS_DEFAULTS=None, **unset)
    assert done.returncode == 0, done.stderr
    changed, removed = json.loads(done.stdout.strip().splitlines()[-1])
    assert changed == openblas.DEFAULTS and removed == []         # OPENBLAS_THREAD_TIMEOUT=4
    done = run(["-c", code], NUMPYNET_BLAS_DEFAULTS="0", **unset)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [{}, []]


def test_config_and_openblas_agree_on_what_is_set():
    set_by_openblas = {name: value for name, value, by in config.SET_ON_IMPORT
                       if by.startswith("numpynet.openblas")}
    assert set_by_openblas == openblas.DEFAULTS
    for name, value in openblas.DEFAULTS.items():
        assert f"{name}={value}" in config.__doc__ and f"{name}={value}" in openblas.__doc__
