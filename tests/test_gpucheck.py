"""python tools/gpucheck.py, rehearsed on the CPU: arguments, per-step timeouts, a failed step
not stopping the next, the summary after every step, and the real command failing cleanly
where there is no GPU (its GPU steps are checked by the one run on a GPU machine)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from numpynet import backend

TOOLS = Path(__file__).resolve().parents[1] / "tools"
sys.path.insert(0, str(TOOLS))
import gpucheck  # noqa: E402  (tools/gpucheck.py: a developer's tool, not in the package)
from gpucheck import Step  # noqa: E402


def python(code, *args):
    return [sys.executable, "-c", code, *map(str, args)]


def summary(out):
    return json.loads((out / "summary.json").read_text())


# --------------------------------------------------------------------------- arguments

def test_help_names_the_output_folder_and_the_steps(capsys):
    with pytest.raises(SystemExit) as exit_:
        gpucheck.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "OUT_DIR" in text and "--quick" in text and "versions,pytest,train" in text


def test_runs_as_a_script_from_any_folder_with_this_checkouts_numpynet(tmp_path):
    """`python tools/gpucheck.py`: the tool lives outside the installed package and imports the
    numpynet of the checkout it sits in, whatever the working folder and PYTHONPATH."""
    script = str(TOOLS / "gpucheck.py")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([sys.executable, script, "--help"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "usage: python tools/gpucheck.py" in run.stdout
    which = ("import runpy, sys\nsys.argv = [sys.argv[1], '--help']\n"
             "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
             "except SystemExit:\n    print(sys.modules['numpynet'].__file__)")
    run = subprocess.run([sys.executable, "-c", which, script], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    used = Path(run.stdout.splitlines()[-1]).resolve()
    assert used == TOOLS.parent / "numpynet" / "__init__.py"


def test_out_dir_must_be_given(capsys):
    with pytest.raises(SystemExit) as exit_:
        gpucheck.main([])
    assert exit_.value.code == 2 and "OUT_DIR" in capsys.readouterr().err


def test_out_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert gpucheck.main([str(tmp_path / "taken"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error: OUT_DIR" in err and "is a file, not a folder" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--steps", "train,nope"], "--steps: unknown step(s) nope; choose from versions"),
    (["--steps", ","], "(none given)"),
    (["--data", "no/such/folder"], "--data: no folder at no/such/folder"),
])
def test_bad_options_say_what_is_wrong(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        gpucheck.main([str(tmp_path / "out"), *argv])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()               # nothing written for a bad command


def test_steps_keep_their_order_and_quick_shrinks_them(tmp_path):
    args = gpucheck.parse_args([str(tmp_path), "--steps", "bench,versions", "--quick"])
    assert args.steps == ["bench", "versions"] and args.budget == gpucheck.QUICK_BUDGET
    steps = {s.name: s for s in gpucheck.gpu_steps(args, tmp_path, tmp_path / "work")}
    assert list(steps) == list(gpucheck.STEP_NAMES)
    assert "--small" in steps["bench"].command and "--crop" in steps["train"].command
    full = gpucheck.parse_args([str(tmp_path)])
    bench = gpucheck.gpu_steps(full, tmp_path, tmp_path / "work")[-1].command
    assert bench[-6:] == ["--device", "gpu", "--compare", "torch", "--batch", "128"]
    assert full.budget == gpucheck.BUDGET


# --------------------------------------------------------------------------- running steps

def test_a_timeout_or_a_failure_does_not_stop_the_next_step(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    hang = ("import subprocess, sys, time; p = subprocess.Popen(['sleep', '60']); "
            "open(sys.argv[1], 'w').write(str(p.pid)); print('started', flush=True); "
            "time.sleep(60)")
    report = ("import json, sys; s = json.load(open(sys.argv[1])); "
              "print(' '.join(r['status'] for r in s['steps']))")
    steps = [Step("hangs", "sleeps past its timeout", python(hang, pid_file), timeout=1.5),
             Step("fails", "says why and exits 3", python("print('error: boom'); exit(3)"), 10),
             Step("reads", "reads the summary", python(report, tmp_path / "summary.json"), 10)]
    t0 = time.time()
    results = gpucheck.run_steps(steps, tmp_path, budget=60, echo=False)
    assert time.time() - t0 < 15
    assert [r["status"] for r in results] == ["timeout", "failed", "passed"]
    assert results[0]["note"].startswith("stopped after 2 s (its timeout); last output: started")
    assert results[1]["note"] == "error: boom (exit code 3)"
    assert results[2]["tail"] == ["timeout failed pending"]    # the summary after step 2
    assert [r["status"] for r in summary(tmp_path)["steps"]] == ["timeout", "failed", "passed"]
    log = (tmp_path / "log.txt").read_text()
    assert "== hangs: TIMEOUT" in log and "error: boom" in log and "== reads: PASSED" in log
    assert "fails" in (tmp_path / "summary.txt").read_text()
    pid = int(pid_file.read_text())                     # the step's own child was ended too
    for _ in range(50):
        if not _running(pid):
            break
        time.sleep(0.1)
    assert not _running(pid)


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_summary_exists_before_the_first_step_ends(tmp_path):
    look = "import json, sys; print(json.load(open(sys.argv[1]))['steps'][0]['status'])"
    results = gpucheck.run_steps([Step("first", "looks", python(look, tmp_path / "summary.json"),
                                       10)], tmp_path, echo=False)
    assert results[0]["tail"] == ["pending"]


def test_steps_after_the_budget_is_spent_are_not_run(tmp_path, monkeypatch):
    monkeypatch.setattr(gpucheck, "MIN_STEP_S", 1)
    steps = [Step("slow", "takes most of the budget", python("import time; time.sleep(1.3)"), 10),
             Step("late", "finds no time left", python("print('ran')"), 10)]
    results = gpucheck.run_steps(steps, tmp_path, budget=2, echo=False)
    assert [r["status"] for r in results] == ["passed", "not run"]
    assert "budget" in results[1]["note"]


def test_a_command_that_cannot_start_is_a_failed_step(tmp_path):
    results = gpucheck.run_steps([Step("missing", "no such program",
                                       ["/no/such/program"], 10),
                                  Step("next", "still runs", python("pass"), 10)],
                                 tmp_path, echo=False)
    assert [r["status"] for r in results] == ["failed", "passed"]
    assert results[0]["note"].startswith("cannot start /no/such/program")


def test_failure_reason_prefers_the_commands_own_error_line():
    traceback = ["Traceback (most recent call last):", '  File "x.py", line 1',
                 "ValueError: bad shape"]
    assert gpucheck.failure_reason(traceback, 1) == "ValueError: bad shape (exit code 1)"
    assert gpucheck.failure_reason(["warming up", "error: no GPU", "bye"], 2) == \
        "error: no GPU (exit code 2)"
    assert gpucheck.failure_reason([], 9) == "no output (exit code 9)"


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest"
 errors="0" failures="{failures}" skipped="{skipped}" tests="3">
 <testcase classname="t" name="test_a">{a}</testcase>
 <testcase classname="t" name="test_b"/><testcase classname="t" name="test_c"/>
 </testsuite></testsuites>"""


@pytest.mark.parametrize("failures, skipped, a, returncode, status, note", [
    (0, 3, '<skipped message="no GPU here"/>', 0, "skipped", "all 3 skipped: no GPU here"),
    (1, 0, '<failure message="x"/>', 1, "failed", "1 failed, 0 errors, 2 passed: test_a"),
    (0, 1, '<skipped message="s"/>', 0, "passed", "2 passed, 1 skipped"),
])
def test_pytest_verdict(tmp_path, failures, skipped, a, returncode, status, note):
    xml = tmp_path / "pytest.xml"
    xml.write_text(JUNIT.format(failures=failures, skipped=skipped, a=a))
    assert gpucheck.pytest_verdict(xml)(returncode, [])[:2] == (status, note)
    missing = gpucheck.pytest_verdict(tmp_path / "none.xml")(4, ["ERROR: file not found: x"])
    assert missing[0] == "failed" and "ERROR: file not found: x (exit code 4)" in missing[1]


@pytest.mark.parametrize("losses, status, note", [
    ([2.30, 2.10, 1.90], "passed", "train loss 2.300 -> 1.900 over 3 epochs, 250 img/s"),
    ([2.30, 2.31], "failed", "the loss did not fall: train loss 2.300 -> 2.310"),
    ([2.30], "failed", "1 epochs in"),
])
def test_train_verdict_needs_a_falling_loss_and_keeps_the_figures(tmp_path, losses, status,
                                                                   note):
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    out.mkdir()
    rows = ["epoch,train_loss,train_top1_err,val_loss,val_top1_err,val_top5_err,lr,seconds,"
            "images_per_s"] + [f"{i + 1},{loss},0.9,2.3,0.9,0.5,0.01,2,250" for i, loss
                               in enumerate(losses)]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    got = gpucheck.train_verdict(run, out)(0, [])
    assert got[0] == status and note in got[1]
    assert (out / "train" / "metrics.csv").read_text() == (run / "metrics.csv").read_text()
    crashed = gpucheck.train_verdict(run, out)(2, ["error: the GPU backend needs CuPy"])
    assert crashed[:2] == ("failed", "error: the GPU backend needs CuPy (exit code 2)")


@pytest.mark.parametrize("gpu_error", [0.0, 1e-2])
def test_checkpoint_step_compares_cpu_and_gpu_logits(tmp_path, monkeypatch, capsys, gpu_error):
    """The checkpoint child with the CPU standing in for the GPU (the 'GPU' weights off by
    `gpu_error`): the same predictions pass, wrong ones fail with one line."""
    import numpy as np
    from PIL import Image

    from numpynet import checkpoint
    from numpynet.models import alexnet
    model = dict(num_classes=3, groups=2, seed=0, preset="paper", init="he", width=0.125,
                 input_size=67)
    rng = np.random.default_rng(0)
    mean = rng.uniform(0, 255, (80, 80, 3)).astype(np.float32)
    path = checkpoint.save(tmp_path / "last.npz", alexnet(**model),
                           dict(model=model, crop=67, wnids=["a", "b", "c"]), mean=mean)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (90, 100, 3), dtype=np.uint8)).save(
            tmp_path / f"v{i}.png")
    on_cpu = backend.to_device

    def moved(x, device=None):               # to the "GPU": 4-d arrays (conv weights, images)
        off = device == "gpu" and getattr(x, "ndim", 0) == 4      # ... come out off a little
        return on_cpu(x * (1 + gpu_error) if off else x, "cpu")

    monkeypatch.setattr(backend, "use", lambda device: None)
    monkeypatch.setattr(backend, "to_device", moved)
    code = gpucheck.child_checkpoint(path, tmp_path)
    out, err = capsys.readouterr()
    assert "v2.png" in out and "max |GPU - CPU|" in out
    if gpu_error:
        assert code == 1 and err.startswith("error: CPU and GPU predictions differ: logits by")
    else:
        assert code == 0 and "= 0.0e+00 of the largest" in out and err == ""


# --------------------------------------------------------------------------- the real command

def _gpu_usable():
    try:
        backend.load_cupy()
    except RuntimeError:
        return False
    return True


@pytest.mark.skipif(_gpu_usable(), reason="a GPU is here: run python tools/gpucheck.py")
def test_rehearsal_without_a_gpu_completes_and_says_why_each_gpu_step_failed(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    code = gpucheck.main([str(out), "--quick", "--quiet", "--work", str(work)])
    assert code == 1                                     # some steps did not pass
    steps = {r["name"]: r for r in summary(out)["steps"]}
    assert list(steps) == list(gpucheck.STEP_NAMES)
    assert steps["versions"]["status"] == "passed"
    assert steps["pytest"]["status"] == "skipped" and "CuPy" in steps["pytest"]["note"]
    for name in ("train", "bench"):
        assert steps[name]["status"] == "failed"
        assert steps[name]["note"].startswith("error: ") and "CuPy" in steps[name]["note"]
    assert steps["checkpoint"]["status"] == "failed"
    assert "no checkpoint at" in steps["checkpoint"]["note"]
    for r in steps.values():
        assert "Traceback" not in r["note"] and "\n" not in r["note"]
    versions = summary(out)["versions"]
    assert versions["numpy"] and versions["cupy"].startswith("unavailable")
    assert summary(out)["tf32"].endswith("NVIDIA_TF32_OVERRIDE=0, CUPY_TF32=0")
    text = (out / "summary.txt").read_text()
    assert all(name in text for name in gpucheck.STEP_NAMES)
    assert sorted(p.name for p in out.iterdir()) == ["bench.txt", "log.txt", "summary.json",
                                                     "summary.txt", "train"]
    assert os.path.isdir(work)
