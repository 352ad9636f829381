"""The notebooks: committed without outputs, and each runs top to bottom in quick mode.

Quick mode (NUMPYNET_QUICK=1) shrinks data and epochs to a handful (each notebook sets it up in
its first code cell); NUMPYNET_RUNS sends every
run folder, demo dataset and cache the notebooks write to a temporary folder, shared by the
notebooks of one test session so that notebook 5 finds the checkpoint notebook 4 trained (run on
its own it trains a short run itself).

docs/notebooks/ holds executed copies (full mode, with outputs) that GitHub renders; each
stores the hash of the cells it was run from, and a test checks that the hash is the current
one, so that a change to a notebook without rerunning `python tools/execute_notebooks.py`
fails here.
"""

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = ["01_layers.ipynb", "02_building_alexnet.ipynb", "03_data.ipynb",
            "04_training.ipynb", "05_what_it_learned.ipynb", "06_training_dynamics.ipynb",
            "07_from_loops_to_fast.ipynb"]
CELL_TIMEOUT = 300            # seconds, per cell


def _execute_notebooks_tool():
    """tools/execute_notebooks.py, imported from its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location("execute_notebooks",
                                                  ROOT / "tools" / "execute_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seven_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_executed_copy_comes_from_the_current_sources(path):
    """docs/notebooks/<name> was executed from this notebook's current cells."""
    tool = _execute_notebooks_tool()
    copy = tool.EXECUTED / path.name
    rerun = f"rerun `{tool.COMMAND} {path.stem}` (full mode; all of them: `{tool.COMMAND}`)"
    assert copy.is_file(), f"docs/notebooks/{path.name} is missing: {rerun}"
    executed = nbformat.read(copy, as_version=4)
    assert tool.stored_hash(executed) == tool.source_hash(nbformat.read(path, as_version=4)), (
        f"docs/notebooks/{path.name} was executed from other sources than "
        f"notebooks/{path.name}: {rerun}")
    errors = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert not errors, f"docs/notebooks/{path.name}: cells {errors} show errors"
    unrun = [i for i, c in enumerate(executed.cells) if c.cell_type == "code"
             and c.source.strip() and c.execution_count is None]
    assert not unrun, f"docs/notebooks/{path.name}: cells {unrun} were not executed: {rerun}"


def test_source_hash_sees_a_changed_cell():
    tool = _execute_notebooks_tool()
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    before = tool.source_hash(nb)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="outputs do not count")]
    assert tool.source_hash(nb) == before
    nb.cells[1].source += "\n# an edit"
    assert tool.source_hash(nb) != before


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_without_outputs(path):
    """Outputs (images especially) do not belong in git: clear them before committing
    (Jupyter: Edit > Clear All Outputs; or jupyter nbconvert --clear-output --inplace)."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts"
    attachments = [i for i, cell in enumerate(nb.cells) if cell.get("attachments")]
    assert not attachments, f"{path.name}: cells {attachments} carry attachments"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_self_contained(path):
    """Each notebook reads QUICK itself, so it runs alone, in any order."""
    source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells
                       if c.cell_type == "code")
    assert 'QUICK = os.environ.get("NUMPYNET_QUICK") == "1"' in source


@pytest.fixture(scope="module")
def runs_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("notebook-runs")


def run_quick(path, runs_folder, monkeypatch):
    """Run a notebook in quick mode -> the executed notebook (without trained weights unless
    the caller set NUMPYNET_WEIGHTS)."""
    monkeypatch.setenv("NUMPYNET_QUICK", "1")           # inherited by the kernel
    monkeypatch.setenv("NUMPYNET_RUNS", str(runs_folder))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    client.execute()                                    # raises CellExecutionError on an error
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors
    # Run as they are (every answer None, the folded solutions standing in), no check may say
    # WRONG: a WRONG here is a notebook's own sanity check failing (notebook 4's starting loss,
    # its 20 images learned by heart), which the notebooks print rather than assert.
    wrong = [(i, line) for i, c in enumerate(nb.cells) if c.cell_type == "code"
             for o in c.outputs if o.output_type == "stream"
             for line in o.text.splitlines() if line.startswith("WRONG")]
    assert not wrong, f"{path.name}: checks said WRONG: {wrong}"
    return nb


def printed(nb):
    """Everything the notebook's code cells printed, as one string."""
    return "".join(o.text for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode(path, runs_folder, monkeypatch):
    monkeypatch.delenv("NUMPYNET_WEIGHTS", raising=False)
    nb = run_quick(path, runs_folder, monkeypatch)
    if path.name == "05_what_it_learned.ipynb":         # no trained file: it says how to get one
        assert "bvlc_alexnet.caffemodel" in printed(nb)
        assert "the trained paper network" not in printed(nb)


def synthetic_caffemodel(path):
    """A small Caffe AlexNet (the caffe preset, two groups, 1/8 of the channels, 67 px crops,
    10 classes) written by numpynet's own Caffe writer, with the first group of conv1 made
    grey (the same kernel in R, G and B: colour spread 0), so that the notebook must find the
    paper's split in group 1."""
    from numpynet.models import alexnet
    from numpynet.weights import caffe
    net = alexnet(10, groups=2, preset="caffe", init="caffe", width=0.125, input_size=67, seed=3)
    W = net["conv1"].params["W"]
    W[:len(W) // 2] = W[:len(W) // 2].mean(axis=1, keepdims=True)
    return caffe.write_caffemodel(path, caffe.from_numpynet(net, size=67))


def test_notebook_05_shows_a_trained_caffe_network(runs_folder, monkeypatch, tmp_path):
    """With NUMPYNET_WEIGHTS naming a .caffemodel, notebook 5 loads it and shows its conv1
    kernels, its two groups' colour spreads and the feature maps of a photo through it."""
    weights = synthetic_caffemodel(tmp_path / "small.caffemodel")
    monkeypatch.setenv("NUMPYNET_WEIGHTS", str(weights))
    out = printed(run_quick(NOTEBOOKS_DIR / "05_what_it_learned.ipynb", runs_folder, monkeypatch))
    assert "the trained paper network, from caffe weights" in out
    assert "12 conv1 kernels in 2 group(s) of 6, 67 px crops, 10 classes" in out
    assert "trained group 1 (kernels 0-5): colour spread 0.000; 6 of 6 nearly grey" in out
    assert "The trained network shows the paper's split: group 1's kernels" in out
    assert "the trained paper network on a photo" in out and "top 5: class" in out
    assert "no trained weights" not in out


@pytest.mark.parametrize("name", ["01_layers", "03_data"])
def test_notebook_runs_without_the_sample_photos(name, runs_folder, monkeypatch, tmp_path):
    """A fresh clone has no ../shared/data: notebooks 1 and 3 fall back on generated images."""
    monkeypatch.setenv("NUMPYNET_SHARED_DATA", str(tmp_path / "absent"))
    run_quick(NOTEBOOKS_DIR / f"{name}.ipynb", runs_folder, monkeypatch)
