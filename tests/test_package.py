"""The package as a user gets it: its own distribution name, the MIT licence, a citation, one
version, and a console script beside every `python -m numpynet.X` command."""

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import numpynet

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SCRIPTS = {"numpynet-train": "train", "numpynet-evaluate": "evaluate",
           "numpynet-predict": "predict", "numpynet-ablate": "ablate",
           "numpynet-diagnostics": "diagnostics", "numpynet-config": "config",
           "numpynet-export": "export"}


def test_the_distribution_name_is_not_the_unrelated_numpynet_on_pypi():
    assert PROJECT["name"] == "numpynet-alexnet"          # `import numpynet` stays
    assert "numpynet-alexnet" in (ROOT / "README.md").read_text()


def test_one_source_for_the_version():
    """pyproject.toml reads numpynet.__version__; nothing else spells the version out."""
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["dynamic"]["version"] == {"attr": "numpynet.__version__"}
    parts = numpynet.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)
    assert numpynet.__version__ not in (ROOT / "CITATION.cff").read_text()


def test_licence_and_citation():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "numpynet contributors" in text
    yaml = pytest.importorskip("yaml")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    paper = cff["references"][0]
    assert [a["family-names"] for a in paper["authors"]] == ["Krizhevsky", "Sutskever",
                                                            "Hinton"]
    assert paper["year"] == 2012 and "ImageNet Classification" in paper["title"]


@pytest.mark.parametrize("script, module", SCRIPTS.items())
def test_each_console_script_is_the_modules_main(script, module):
    target = PROJECT["scripts"][script]
    assert target == f"numpynet.{module}:main"
    main = importlib.import_module(f"numpynet.{module}").main
    assert list(inspect.signature(main).parameters)[:1] == ["argv"]


def test_the_bench_script_restarts_like_python_m():
    """numpynet-bench runs what `python -m numpynet.bench` runs: main with its restart."""
    assert PROJECT["scripts"]["numpynet-bench"] == "numpynet.bench.cli:command"
    from numpynet.bench import cli
    assert "restart=True" in inspect.getsource(cli.command)
    assert "command()" in (ROOT / "numpynet" / "bench" / "__main__.py").read_text()


def test_config_version():
    run = subprocess.run([sys.executable, "-m", "numpynet.config", "--version"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0 and run.stdout == f"numpynet {numpynet.__version__}\n"
