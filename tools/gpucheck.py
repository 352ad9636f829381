"""The GPU backend checked on a real GPU, in one command that keeps every result:

    python tools/gpucheck.py runs/gpucheck               # about 8 minutes at most on one GPU
    python tools/gpucheck.py runs/gpucheck --steps bench          # rerun only some steps

A developer's tool, run from the checkout (it runs the checkout's tests/ and its numpynet, so it
is not part of the installed package).

Five steps, each a child process with its own timeout; a failed or timed-out step never stops
the next, and the summary is rewritten after every step, so a run cut short still says what it
found:

    versions     GPU, driver, CUDA runtime, CuPy, Numba-CUDA, PyTorch, NumPy, Python, and
                 whether TF32 is really off
    pytest       tests/test_gpu_cupy.py and tests/test_gpu_agreement.py (every layer and the
                 whole AlexNet: GPU == CPU within float32 tolerance)
    train        python -m numpynet.train --device gpu for a few epochs on --data; the train
                 loss must fall
    checkpoint   the checkpoint that training wrote on the GPU loads on the CPU and predicts
                 what the GPU predicts, on a few validation images
    bench        python -m numpynet.bench --device gpu --compare torch --batch 128

OUT_DIR receives few files (a machine that hands back only a handful keeps them all):

    log.txt            every step's command and output, written as it comes
    summary.json       per step: status (passed / failed / timeout / skipped / not run), a
    summary.txt        one-line reason or result, seconds, command; the versions found
    bench.txt          the benchmark's output (its tables)
    train/metrics.csv  train/curves.png     the training run's figures

The bulky files (checkpoints, the decoded-image cache, pytest's XML) go to --work (default: a
new temporary folder). TF32 is off in every step: NVIDIA_TF32_OVERRIDE=0 (cuBLAS and cuDNN,
so PyTorch and CuPy alike) and CUPY_TF32=0, since numpynet computes in float32 and the
benchmark has no TF32 switch of its own; the versions step measures that it took effect.

Without a GPU every GPU step fails (or skips) with a one-line reason and the run still
completes: `--quick` rehearses the command with tiny settings (tests/test_gpucheck.py does).
"""

import argparse
import ast
import csv
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]        # the checkout: tests/ and data/ live here
if __name__ == "__main__" and str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))                 # this checkout's numpynet, not an installed one

import numpy as np  # noqa: E402

from numpynet.files import atomic_write_text  # noqa: E402

ME = Path(__file__).resolve()
DEFAULT_DATA = REPO / "data" / "gpu-sample"       # a copy of ../shared/data/imagenette-mini
GPU_TESTS = ["tests/test_gpu_cupy.py", "tests/test_gpu_agreement.py"]
BUDGET = 450                                      # seconds for all steps together
QUICK_BUDGET = 240
TF32_OFF = {"NVIDIA_TF32_OVERRIDE": "0", "CUPY_TF32": "0"}
AGREE = 1e-4              # CPU vs GPU logits: max |difference| / max |logit| (float32 sums)
TAIL = 15                 # output lines kept per step in summary.json
MIN_STEP_S = 5            # a step is not started with less of the budget left


# --------------------------------------------------------------------------- running steps

@dataclass
class Step:
    """One child process: `command` run from the checkout with at most `timeout` seconds.

    `verdict(returncode, lines)` -> (status, note, details) judges the finished command (default:
    exit code 0 passes); `keep` names a file in OUT_DIR that receives the whole output.
    """
    name: str
    what: str
    command: list
    timeout: float
    verdict: object = None
    keep: str = None
    before: object = None            # called just before the command starts
    env: dict = field(default_factory=dict)


def child_env(extra=()):
    """The environment of every step: TF32 off, output unbuffered, this checkout importable."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", MPLBACKEND="Agg", **TF32_OFF)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in
                                        env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(extra)
    return env


def stop_group(proc):
    """End the step's process and every process it started (they share its session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def run_command(command, timeout, env, on_line):
    """Run `command`, passing each output line to `on_line`; -> (exit code, timed out)."""
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1,
                            start_new_session=True)
    reader = threading.Thread(target=lambda: [on_line(line.rstrip("\n")) for line in proc.stdout],
                              daemon=True)
    reader.start()
    try:
        returncode, timed_out = proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        stop_group(proc)
        returncode, timed_out = proc.wait(), True
    except KeyboardInterrupt:
        stop_group(proc)
        raise
    reader.join(timeout=5)
    if reader.is_alive():              # a grandchild still holds the pipe open
        stop_group(proc)
        reader.join(timeout=5)
    return returncode, timed_out


def failure_reason(lines, returncode):
    """One line: the command's own `error: ...` line, else the last exception line, else its
    last line of output; with the exit code."""
    text = [line.strip() for line in lines if line.strip()]
    said = ([line for line in text if line.lower().startswith("error")]
            or [line for line in text if _exception_line(line)] or text[-1:])
    reason = said[-1] if said else "no output"
    return f"{reason[:240]} (exit code {returncode})"


def _exception_line(line):
    head = line.split(":", 1)[0]
    return ":" in line and head.isidentifier() and head.endswith(("Error", "Exception"))


def exit_code_verdict(returncode, lines):
    if returncode == 0:
        return "passed", "", {}
    return "failed", failure_reason(lines, returncode), {}


class Log:
    """log.txt and the console together, line by line, as the output comes."""

    def __init__(self, path, echo=True):
        self.file, self.echo, self.lock = open(path, "w", encoding="utf-8"), echo, threading.Lock()

    def line(self, text):
        with self.lock:
            self.file.write(text + "\n")
            self.file.flush()
            if self.echo:
                print(text, flush=True)

    def close(self):
        self.file.close()


def run_step(step, log, seconds_left, out):
    """Run one step within min(its timeout, seconds_left); -> its result (a dict)."""
    result = dict(name=step.name, what=step.what, command=shlex.join(map(str, step.command)),
                  status="not run", note="", seconds=0.0, details={}, tail=[])
    timeout = min(step.timeout, seconds_left)
    if seconds_left < MIN_STEP_S:
        result["note"] = "out of time: the --budget was spent by the steps before"
        log.line(f"\n== {step.name}: not run ({result['note']})")
        return result
    log.line(f"\n== {step.name}: {step.what} (timeout {timeout:.0f} s)\n$ {result['command']}")
    lines, tail = [], deque(maxlen=TAIL)

    def on_line(text):
        lines.append(text)
        tail.append(text)
        log.line(text)

    t0 = time.time()
    try:
        if step.before is not None:
            step.before()
        returncode, timed_out = run_command(step.command, timeout, child_env(step.env), on_line)
    except OSError as e:
        returncode, timed_out = None, False
        result.update(status="failed", note=f"cannot start {step.command[0]}: {e}")
    result["seconds"] = round(time.time() - t0, 1)
    if timed_out:
        result.update(status="timeout", note=f"stopped after {timeout:.0f} s (its timeout); "
                                             f"last output: {(lines or ['none'])[-1][:160]}")
    elif returncode is not None:
        status, note, details = (step.verdict or exit_code_verdict)(returncode, lines)
        result.update(status=status, note=note, details=details)
    if step.keep:
        atomic_write_text(out / step.keep, "\n".join(lines) + "\n")
    result["tail"] = list(tail)
    log.line(f"== {step.name}: {result['status'].upper()} in {result['seconds']} s"
             + (f": {result['note']}" if result["note"] else ""))
    return result


def run_steps(steps, out, budget=BUDGET, info=None, echo=True, on_step=None):
    """Run `steps` in order, each whatever became of the ones before, within `budget` seconds
    in all; rewrite OUT/summary.json and summary.txt before the first and after every step
    (`on_step(result)` may add to `info` first). -> the results."""
    out = Path(out)
    log = Log(out / "log.txt", echo)
    info = {} if info is None else info           # on_step may add to it
    info.update(started=datetime.now().isoformat(timespec="seconds"), budget_s=budget)
    results = [dict(name=s.name, what=s.what, status="pending", note="", seconds=0.0)
               for s in steps]
    t0 = time.time()
    write_summary(out, info, results)
    try:
        for i, step in enumerate(steps):
            results[i] = run_step(step, log, budget - (time.time() - t0), out)
            if on_step is not None:
                on_step(results[i])
            info["elapsed_s"] = round(time.time() - t0, 1)
            write_summary(out, info, results)
    except KeyboardInterrupt:
        results[i].update(status="interrupted", note="Ctrl-C")
        write_summary(out, info, results)
        raise
    finally:
        log.close()
    return results


def write_summary(out, info, results):
    """summary.json (everything) and summary.txt (one line per step), written atomically."""
    atomic_write_text(out / "summary.json", json.dumps(dict(info, steps=results), indent=2) + "\n")
    lines = [f"numpynet GPU check, started {info['started']}, {info.get('elapsed_s', 0):.0f} s "
             f"of a {info['budget_s']:.0f} s budget"]
    versions = info.get("versions") or {}
    lines += [f"  {k}: {versions[k][:150]}" for k in ("gpu", "driver", "cuda runtime", "cupy",
                                                "numba-cuda", "torch", "tf32") if k in versions]
    lines += [f"{'step':<11} {'status':<11} {'seconds':>7}  note"]
    lines += [f"{r['name']:<11} {r['status']:<11} {r['seconds']:>7.1f}  {r['note']}"
              for r in results]
    atomic_write_text(out / "summary.txt", "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- the GPU steps

def pytest_verdict(xml_path):
    """Passed only if some test ran and none failed; all skipped -> 'skipped', with the reason."""
    def verdict(returncode, lines):
        try:
            suite = ET.parse(xml_path).getroot()
            suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
            counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        except (OSError, ET.ParseError, AttributeError) as e:
            return "failed", f"{failure_reason(lines, returncode)}; no pytest report ({e})", {}
        bad = counts["failures"] + counts["errors"]
        ran = counts["tests"] - counts["skipped"]
        if returncode not in (0, 1, 5) or (returncode == 1 and not bad):
            return "failed", failure_reason(lines, returncode), counts     # pytest itself
        if bad:
            names = [c.get("name") for c in suite.iter("testcase")
                     if c.find("failure") is not None or c.find("error") is not None]
            return "failed", (f"{counts['failures']} failed, {counts['errors']} errors, "
                              f"{ran - bad} passed: {', '.join(names[:6])}"), counts
        if ran == 0:
            why = "; ".join(skip_reasons(suite)[:2]) or "no tests collected"
            return "skipped", f"all {counts['tests']} skipped: {why[:200]}", counts
        return "passed", f"{ran} passed, {counts['skipped']} skipped", counts
    return verdict


def skip_reasons(suite):
    """The distinct reasons in a pytest report's <skipped> elements (a module skipped while
    being collected keeps its reason in the text: "(file, line, 'Skipped: reason')")."""
    reasons = []
    for skip in suite.iter("skipped"):
        why = skip.get("message", "")
        if why == "collection skipped":
            try:
                why = str(ast.literal_eval(skip.text)[2]).removeprefix("Skipped: ")
            except (ValueError, SyntaxError, TypeError, IndexError):
                pass
        if why not in reasons:
            reasons.append(why)
    return reasons


def read_metrics(path):
    """The rows of a training run's metrics.csv (empty list if there is none)."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def train_verdict(run, out):
    """Copy metrics.csv and curves.png to OUT/train; passed if the train loss fell."""
    def verdict(returncode, lines):
        (out / "train").mkdir(exist_ok=True)
        for name in ("metrics.csv", "curves.png"):
            if (run / name).is_file():
                shutil.copy2(run / name, out / "train" / name)
        rows = read_metrics(run / "metrics.csv")
        if returncode != 0:
            return "failed", failure_reason(lines, returncode), {"epochs": len(rows)}
        losses = [float(r["train_loss"]) for r in rows]
        if len(losses) < 2:
            return "failed", f"{len(losses)} epochs in {run / 'metrics.csv'}; need 2 or more", {}
        last = rows[-1]
        details = dict(epochs=len(rows), first_train_loss=losses[0], last_train_loss=losses[-1],
                       last_val_top1_err=last["val_top1_err"],
                       images_per_s=float(last["images_per_s"]))
        figures = (f"train loss {losses[0]:.3f} -> {losses[-1]:.3f} over {len(rows)} epochs, "
                   f"{details['images_per_s']:.0f} img/s in the last one")
        if losses[-1] >= losses[0]:
            return "failed", f"the loss did not fall: {figures}", details
        return "passed", figures, details
    return verdict


def clear_folder(path):
    """A step's own folder in --work starts empty (a stale checkpoint must not pass a check)."""
    def clear():
        shutil.rmtree(path, ignore_errors=True)
    return clear


def gpu_steps(args, out, work):
    """The five steps, with the settings of a full run or of --quick."""
    py, quick = sys.executable, args.quick
    xml, run = work / "pytest.xml", work / "train"
    data = ["--data", str(args.data)] if args.data.is_dir() else \
           ["--subset", "10", "--per-class", "40", "--val-per-class", "10"]   # train's demo set
    size = (["--width", "0.125", "--crop", "67", "--epochs", "2", "--batch-size", "16"] if quick
            else ["--epochs", "6", "--batch-size", "32"])
    bench = ["--small", "--repeats", "1", "--warmup", "0", "--batch", "8"] if quick else \
            ["--batch", "128"]
    me = [py, str(ME), "--child"]
    return [
        Step("versions", "GPU, driver, CUDA, CuPy, Numba-CUDA, PyTorch, NumPy, Python; TF32",
             me + ["versions", str(work)], 60),
        Step("pytest", "GPU tests: kernels, every layer and AlexNet, GPU == CPU",
             [py, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", f"--junitxml={xml}",
              *GPU_TESTS], 150, verdict=pytest_verdict(xml)),
        Step("train", "a few epochs of python -m numpynet.train --device gpu; the loss must fall",
             [py, "-m", "numpynet.train", "--device", "gpu", *data, *size,
              "--lr-schedule", "constant", "--seed", "0", "--out", str(run),
              "--cache", str(work / "cache"), "--no-progress"], 150,
             verdict=train_verdict(run, out), before=clear_folder(run)),
        Step("checkpoint", "the GPU-written checkpoint on the CPU: same predictions as the GPU",
             me + ["checkpoint", str(run / "last.npz"), str(val_folder(args.data))], 60),
        Step("bench", "python -m numpynet.bench --device gpu --compare torch (TF32 off)",
             [py, "-m", "numpynet.bench", "--device", "gpu", "--compare", "torch", *bench], 150,
             keep="bench.txt"),
    ]


def val_folder(data):
    """Where the validation images of the training data are (train's demo set without --data)."""
    return data / "val" if data.is_dir() else REPO / "data" / "demo" / "val"


STEP_NAMES = ("versions", "pytest", "train", "checkpoint", "bench")


# --------------------------------------------------------------------------- child: versions

def child_versions(work):
    """Print (and save to WORK/versions.json) what the machine has; every piece guarded."""
    found = {}

    def record(key, get):
        try:
            found[key] = str(get())
        except Exception as e:          # any missing piece is a finding, not a crash
            first = (str(e).strip().splitlines() or [""])[0][:160]
            found[key] = f"unavailable ({type(e).__name__}: {first})"
        print(f"{key:<14} {found[key]}", flush=True)

    record("python", lambda: f"{platform.python_version()} ({sys.executable})")
    record("numpy", lambda: np.__version__)
    record("numba", lambda: __import__("numba").__version__)
    record("numba-cuda", lambda: package_version("numba-cuda"))
    record("nvidia-smi", nvidia_smi)
    record("cupy", lambda: __import__("cupy").__version__)
    record("gpu", cupy_gpu_name)
    record("driver", lambda: cuda_version(_cupy().cuda.runtime.driverGetVersion()))
    record("cuda runtime", lambda: cuda_version(_cupy().cuda.runtime.runtimeGetVersion()))
    record("numba sees", numba_gpus)
    record("torch", torch_versions)
    record("tf32", tf32_effect)
    (Path(work) / "versions.json").write_text(json.dumps(found, indent=2) + "\n")
    return 0


def package_version(name):
    from importlib.metadata import version
    return version(name)


def nvidia_smi():
    answer = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                             "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    return (answer.stdout.strip() or answer.stderr.strip()).replace("\n", "; ")


def _cupy():
    from numpynet import backend
    return backend.load_cupy()


def cuda_version(n):
    """CUDA's integer versions: 13000 -> '13.0'."""
    return f"{n // 1000}.{n % 1000 // 10}"


def cupy_gpu_name():
    cp = _cupy()
    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return (f"{name}, {props['totalGlobalMem'] / 2**30:.0f} GiB, compute capability "
            f"{props['major']}.{props['minor']}, {cp.cuda.runtime.getDeviceCount()} device(s)")


def numba_gpus():
    from numba import cuda
    if not cuda.is_available():
        raise RuntimeError(str(cuda.cuda_error() or "no CUDA GPU"))
    return ", ".join(g.name.decode() if isinstance(g.name, bytes) else str(g.name)
                     for g in cuda.gpus)


def torch_versions():
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (f"{torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
            f"{torch.backends.cudnn.version()}, {gpu}")


def tf32_effect():
    """Ask PyTorch for TF32 on purpose and measure a float32 product: with TF32 off (the
    NVIDIA_TF32_OVERRIDE=0 of every step) it keeps float32's accuracy (~1e-6 of the largest
    entry, not TF32's ~1e-3), for PyTorch and CuPy both."""
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("PyTorch sees no CUDA device")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    a, b = (torch.randn(1024, 1024, device="cuda", generator=None) for _ in range(2))
    exact = a.double() @ b.double()
    errors = {"torch": float((a @ b - exact).abs().max() / exact.abs().max())}
    try:
        cp = _cupy()
        ca, cb = cp.asarray(a.cpu().numpy()), cp.asarray(b.cpu().numpy())
        errors["cupy"] = float(cp.abs(ca @ cb - cp.asarray(exact.cpu().numpy())).max()
                               / float(exact.abs().max()))
    except Exception as e:
        errors["cupy"] = f"not measured ({type(e).__name__})"
    verdict = "off" if all(isinstance(v, float) and v < 5e-5 for v in errors.values()) else \
              "ON or unmeasured"
    env = ", ".join(f"{k}={os.environ.get(k)}" for k in TF32_OFF)
    shown = ", ".join(f"{k} {v:.1e}" if isinstance(v, float) else f"{k} {v}"
                      for k, v in errors.items())
    return f"{verdict} ({env}; float32 1024^3 product, relative error: {shown})"


# --------------------------------------------------------------------------- child: checkpoint

def child_checkpoint(path, val, n=8):
    """Load the GPU-written checkpoint on the CPU and on the GPU; same logits (within AGREE)
    and same top-1 class on `n` validation images from the folder `val`."""
    from numpynet import backend, checkpoint
    path = Path(path)
    if not path.is_file():
        return fail(f"no checkpoint at {path}: the train step wrote none (see its output)")
    net_cpu, meta, mean = checkpoint.model_from_checkpoint(path)
    print(f"loaded {path} on the CPU: {meta['model']}")
    x, names = validation_batch(Path(val), mean, meta["crop"], n)
    cpu = backend.to_numpy(net_cpu.forward(x, train=False))
    try:
        backend.use("gpu")
    except RuntimeError as e:
        return fail(f"{e} (the CPU load worked; the GPU half of the comparison cannot run)")
    net_gpu = checkpoint.model_from_checkpoint(path)[0].to("gpu")
    gpu = backend.to_numpy(net_gpu.forward(backend.to_device(x, "gpu"), train=False))
    scale = float(np.abs(cpu).max()) + 1e-30
    error = float(np.abs(gpu - cpu).max()) / scale
    rows = np.arange(len(x))
    c, g = cpu.argmax(1), gpu.argmax(1)
    # another top-1 class is a disagreement unless the CPU itself nearly tied the two
    differ = (c != g) & (cpu[rows, c] - cpu[rows, g] > AGREE * scale)
    wnids = meta.get("wnids") or [str(i) for i in range(cpu.shape[1])]
    for i, name in enumerate(names):
        print(f"  {name:<32} CPU {wnids[c[i]]:<10} GPU {wnids[g[i]]:<10}"
              + ("  DIFFER" if differ[i] else ""))
    print(f"logits: max |GPU - CPU| = {error:.1e} of the largest (allowed {AGREE:g}); "
          f"top-1 class different for {int(differ.sum())} of {len(x)} images")
    if error > AGREE or differ.any():
        return fail(f"CPU and GPU predictions differ: logits by {error:.1e} of the largest, "
                    f"top-1 class for {int(differ.sum())} of {len(x)} images")
    return 0


def validation_batch(folder, mean, crop, n):
    """Up to `n` images of `folder` prepared as for validation (resized to the mean image's
    side, minus the mean, centre crop): (n, 3, crop, crop) float32, and their names."""
    from PIL import Image
    side = 256 if mean is None else mean.shape[0]
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    if not files:
        print(f"no images under {folder}: random inputs instead")
        rng = np.random.default_rng(0)
        return (50 * rng.standard_normal((n, 3, crop, crop))).astype(np.float32), \
            [f"random {i}" for i in range(n)]
    top = (side - crop) // 2
    batch = []
    for f in files[:n]:
        image = np.asarray(Image.open(f).convert("RGB").resize((side, side)), np.float32)
        image = image - (0 if mean is None else mean)
        batch.append(image[top:top + crop, top:top + crop].transpose(2, 0, 1))
    return np.ascontiguousarray(batch, dtype=np.float32), [f.name for f in files[:n]]


def fail(message):
    print(f"error: {message}", file=sys.stderr, flush=True)
    return 1


CHILDREN = {"versions": child_versions, "checkpoint": child_checkpoint}


# --------------------------------------------------------------------------- command line

def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python tools/gpucheck.py",
                                description=__doc__.split("\n")[0].rstrip(":"))
    p.add_argument("out", metavar="OUT_DIR",
                   help="folder for log.txt, summary.json/.txt, bench.txt, train/ (made if "
                        "missing)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help="small ImageNet-layout set for the train step (default: "
                        "data/gpu-sample in the checkout; absent: train's generated demo set)")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings and a shorter budget: a rehearsal, e.g. on a CPU")
    p.add_argument("--steps", default=",".join(STEP_NAMES),
                   help="comma-separated steps to run, always in this order (default: "
                        f"{','.join(STEP_NAMES)})")
    p.add_argument("--budget", type=float,
                   help=f"seconds for all steps together (default {BUDGET}; --quick "
                        f"{QUICK_BUDGET})")
    p.add_argument("--work", type=Path,
                   help="folder for checkpoints and caches (default: a new temporary folder)")
    p.add_argument("--quiet", action="store_true", help="log to OUT_DIR only, not the console")
    args = p.parse_args(argv)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEP_NAMES]
    if unknown or not steps:
        p.error(f"--steps: unknown step(s) {', '.join(unknown) or '(none given)'}; choose from "
                f"{', '.join(STEP_NAMES)}")
    args.steps = steps
    if args.data != DEFAULT_DATA and not args.data.is_dir():
        p.error(f"--data: no folder at {args.data} (expected train/<wnid>/*.JPEG and val/)")
    args.data = args.data.resolve()
    if args.budget is None:
        args.budget = QUICK_BUDGET if args.quick else BUDGET
    return args


def prepare_folder(path, what):
    """Make the folder `path` (an error line naming `what` if it cannot be one)."""
    path = Path(path).resolve()
    if path.exists() and not path.is_dir():
        raise SystemExit(f"error: {what} {path} is a file, not a folder: give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".gpucheck-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SystemExit(f"error: cannot write into {what} {path} ({e.strerror or e})") from None
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child"] and len(argv) > 1 and argv[1] in CHILDREN:
        return CHILDREN[argv[1]](*argv[2:])         # a step's own process (see gpu_steps)
    args = parse_args(argv)
    try:
        out = prepare_folder(args.out, "OUT_DIR")
        work = prepare_folder(args.work or tempfile.mkdtemp(prefix="numpynet-gpucheck-"),
                              "--work")
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    steps = [s for s in gpu_steps(args, out, work) if s.name in args.steps]
    data = args.data if args.data.is_dir() else (f"{args.data} absent: train's generated "
                                                 f"demo set")
    info = dict(out=str(out), work=str(work), data=str(data), quick=args.quick,
                host=platform.node(), tf32="off in every step: " +
                ", ".join(f"{k}={v}" for k, v in TF32_OFF.items()))
    print(f"numpynet GPU check -> {out} (work files: {work}; data: {data}; {info['tf32']})",
          flush=True)
    results = run_steps(steps, out, args.budget, info, echo=not args.quiet,
                        on_step=lambda r: add_versions(info, work, r))
    bad = [r["name"] for r in results if r["status"] in ("failed", "timeout", "not run")]
    print(f"\nsummary: {out / 'summary.txt'}" + (f"; not passed: {', '.join(bad)}" if bad else
                                                   "; every step passed or skipped"))
    print((out / "summary.txt").read_text())
    return 1 if bad else 0


def add_versions(info, work, result):
    """After the versions step, put what it found into the summary (the GPU as its note)."""
    if result["name"] == "versions":
        try:
            info["versions"] = json.loads((work / "versions.json").read_text())
            result["note"] = result["note"] or info["versions"].get("gpu", "")[:200]
        except (OSError, ValueError):
            pass


if __name__ == "__main__":
    sys.exit(main())
