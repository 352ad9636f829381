"""Execute the notebooks in full mode and save the executed copies under docs/notebooks/.

    python tools/execute_notebooks.py                  # all of notebooks/*.ipynb, in order
    python tools/execute_notebooks.py 07_from_loops_to_fast   # only these (names or paths)

The working notebooks (notebooks/) are committed without outputs; GitHub renders these copies,
with their printed results and figures, for a reader who has not run anything. For each
notebook, in order, this:

1. runs it headless (nbclient, kernel python3, working folder notebooks/) in full mode:
   NUMPYNET_QUICK unset, NUMPYNET_RUNS a fresh temporary folder shared by the notebooks of
   this call (so notebook 5 finds the checkpoint notebook 4 trained; run alone it trains its
   own), this checkout first on the kernel's PYTHONPATH, matplotlib figures at FIGURE_DPI;
2. stops at the first error (the error is printed; the copies already written stay);
3. writes docs/notebooks/<name>.ipynb (to a temporary name, then renamed), with a first
   markdown cell saying where it came from, and in its metadata (`numpynet.source_sha256`)
   the hash of the working notebook's cells (`source_hash`): tests/test_notebooks.py checks
   that every working notebook has a copy whose hash equals its current sources', so after
   editing a notebook, rerun this for it.

Full mode took 10 to 17 minutes for all seven on a 2-core Xeon that other jobs shared (load
average 4 to 7; notebooks 4 and 6, which train, most of it); the time of each is printed and
stored in its copy's metadata and first cell.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "docs" / "notebooks"
COMMAND = "python tools/execute_notebooks.py"
FIGURE_DPI = 72               # keeps docs/notebooks/ small (a few MB for all the figures)
CELL_TIMEOUT = 3600           # seconds per cell: notebook 4 trains for minutes in one cell
_OVERWRITTEN = re.compile(r".*\r(?=[^\n])")    # a line's text before a carriage return


def source_hash(nb):
    """sha256 of the cells' types and sources: what a change to the notebook changes (outputs,
    execution counts and metadata do not count)."""
    cells = [[cell["cell_type"], cell["source"]] for cell in nb["cells"]]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=True).encode()).hexdigest()


def stored_hash(nb):
    """The source hash an executed copy was made from (None if it has none)."""
    return nb.get("metadata", {}).get("numpynet", {}).get("source_sha256")


def _kernel_environment(runs):
    """The environment the kernels inherit: full mode, temporary runs, this checkout first."""
    env = {key: value for key, value in os.environ.items() if key != "NUMPYNET_QUICK"}
    env["NUMPYNET_RUNS"] = str(runs)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _setup_cell(nbformat):
    """A first code cell, run and then removed: the figures' resolution."""
    return nbformat.v4.new_code_cell(
        "import matplotlib\n"
        f"matplotlib.rcParams['figure.dpi'] = {FIGURE_DPI}\n"
        f"matplotlib.rcParams['savefig.dpi'] = {FIGURE_DPI}")


def tidy_streams(cell):
    """Merge consecutive printed outputs of the same stream and keep what a terminal would show
    of each line (a progress bar redrawn with \\r is its last state, not a thousand outputs)."""
    merged = []
    for output in cell.get("outputs", []):
        previous = merged[-1] if merged else None
        if (output["output_type"] == "stream" and previous is not None
                and previous["output_type"] == "stream" and previous["name"] == output["name"]):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    for output in merged:
        if output["output_type"] == "stream":
            output["text"] = _OVERWRITTEN.sub("", output["text"])
    if "outputs" in cell:
        cell["outputs"] = merged


def _load():
    """The machine's load average over the last minute (None where the system has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _provenance_cell(nbformat, name, seconds, load):
    shared = f", load average {load:.1f} at the start" if load is not None else ""
    return nbformat.v4.new_markdown_cell(
        f"*An executed copy of [notebooks/{name}](../../notebooks/{name}), in full mode, made by "
        f"`{COMMAND}` on {datetime.now(timezone.utc):%Y-%m-%d} ({seconds / 60:.1f} minutes on "
        f"{os.cpu_count()} CPU cores, {platform.machine()}{shared}: timings printed below are "
        f"that machine's). Open the working notebook to run it yourself; edit that one, not "
        f"this copy.*")


def execute(path, runs):
    """Run one notebook in full mode; write and return its executed copy's path."""
    import nbclient
    import nbformat

    from numpynet.files import atomic_write_text

    nb = nbformat.read(path, as_version=4)
    digest = source_hash(nb)
    nb.cells.insert(0, _setup_cell(nbformat))
    load, start = _load(), time.perf_counter()
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute(env=_kernel_environment(runs))      # raises CellExecutionError on an error
    seconds = time.perf_counter() - start
    nb.cells[0] = _provenance_cell(nbformat, path.name, seconds, load)
    for cell in nb.cells:
        tidy_streams(cell)
    nb.metadata["numpynet"] = {"source_sha256": digest, "command": COMMAND,
                               "seconds": round(seconds, 1), "load_average": load}
    target = EXECUTED / path.name
    atomic_write_text(target, nbformat.writes(nb) + "\n")
    return target, seconds


def _paths(names):
    if not names:
        return sorted(NOTEBOOKS.glob("*.ipynb"))
    paths = []
    for name in names:
        path = NOTEBOOKS / (Path(name).stem + ".ipynb")
        if not path.is_file():
            sys.exit(f"error: no notebook {path.relative_to(ROOT)}; the notebooks are "
                     f"{', '.join(p.stem for p in sorted(NOTEBOOKS.glob('*.ipynb')))}")
        paths.append(path)
    return paths


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*",
                        help="notebooks to run (default: all), e.g. 04_training")
    args = parser.parse_args(argv)
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as error:
        sys.exit(f"error: running the notebooks needs nbclient, nbformat and ipykernel "
                 f"({error}); install them with: pip install -e \".[notebooks]\"")
    sys.path.insert(0, str(ROOT))                      # this checkout's numpynet
    paths = _paths(args.names)
    EXECUTED.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="numpynet-notebook-runs-") as runs:
        print(f"running {len(paths)} notebook(s) in full mode (run folders in {runs}); "
              f"executed copies go to {EXECUTED.relative_to(ROOT)}/", flush=True)
        for path in paths:
            print(f"{path.name} ...", end=" ", flush=True)
            try:
                target, seconds = execute(path, runs)
            except Exception as error:                 # nbclient's CellExecutionError above all
                print(f"FAILED\n{error}", flush=True)
                sys.exit(f"error: {path.name} failed in full mode (above); its executed copy "
                         f"was not updated")
            print(f"{seconds:.0f} s -> {target.relative_to(ROOT)} "
                  f"({target.stat().st_size / 2**20:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
