"""numpynet as a user installs it: the wheel built, installed into a fresh virtual environment
outside the checkout, and the documented commands run from a folder of their own.

One module-scoped build (about a minute with the tiny training run). The environment sees the
system's packages (NumPy, Numba, Pillow are not installed again) but the wheel's numpynet comes
first; the test checks that, since an editable install of a checkout would otherwise answer.
Nothing here needs the network: the wheel is built without build isolation and installed
without dependencies.
"""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import numpynet

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("numpynet-train", "numpynet-evaluate", "numpynet-predict", "numpynet-ablate",
           "numpynet-diagnostics", "numpynet-config", "numpynet-export", "numpynet-bench")
TINY = ["--subset", "3", "--per-class", "8", "--val-per-class", "2", "--epochs", "1",
        "--width", "0.125", "--crop", "67", "--image-size", "80", "--batch-size", "8",
        "--no-progress", "--workers", "1"]


def run(command, cwd, env, timeout=300):
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the environment's bin folder, a working folder, the environment variables) with the
    wheel of this checkout installed."""
    pytest.importorskip("setuptools", minversion="77",
                        reason="building the wheel offline needs setuptools >= 77 (PEP 639)")
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"                       # a copy: the build leaves build/ behind
    shutil.copytree(ROOT / "numpynet", source / "numpynet",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NUMPYNET_DATA", "NUMPYNET_CACHE")}
    env.update(HOME=str(tmp / "home"), XDG_CACHE_HOME=str(tmp / "xdg"), MPLBACKEND="Agg",
               PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", tmp / "dist", source], tmp, env)
    wheel, = (tmp / "dist").glob("numpynet_alexnet-*.whl")
    venv.create(tmp / "venv", system_site_packages=True, with_pip=False)
    bin_ = tmp / "venv" / ("Scripts" if os.name == "nt" else "bin")
    run([sys.executable, "-m", "pip", "--python", bin_ / "python", "install", "--no-deps", "-q",
         wheel], tmp, env)
    work = tmp / "work"
    work.mkdir()
    return bin_, work, env, wheel


def test_the_wheels_numpynet_answers_not_the_checkouts(installed):
    bin_, work, env, wheel = installed
    assert wheel.name == f"numpynet_alexnet-{numpynet.__version__}-py3-none-any.whl"
    where = run([bin_ / "python", "-c", "import numpynet; print(numpynet.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(bin_.parent)
    assert not Path(where.strip()).is_relative_to(ROOT)
    package = Path(where.strip()).parent
    assert not (package / "gpucheck.py").exists()                  # tooling stays in tools/
    assert (package / "data" / "imagenet_classes.txt").is_file()   # package data shipped


@pytest.mark.parametrize("script", SCRIPTS)
def test_each_console_script_answers_help_and_version(installed, script):
    bin_, work, env, _ = installed
    text = run([bin_ / script, "--help"], work, env)
    assert "usage:" in text
    if "--version" in text:                      # every command that has it says the version
        assert run([bin_ / script, "--version"], work, env).split()[-1] == numpynet.__version__


def test_a_tiny_training_run_from_the_wheel_keeps_its_files_out_of_the_checkout(installed):
    """No --data, no checkout: the demo set and the caches go to the user cache folder
    ($XDG_CACHE_HOME/numpynet), the run says so first, and the run's files go where asked."""
    bin_, work, env, _ = installed
    out = run([bin_ / "python", "-m", "numpynet.train", *TINY, "--out", "run"], work, env)
    cache = Path(env["XDG_CACHE_HOME"]) / "numpynet"
    first = out.splitlines()[0]
    assert first.startswith("folders  data ") and "installed numpynet" in first
    assert str(cache / "cache") in first and "GENERATED DEMO DATASET" in out
    assert (cache / "demo" / "train").is_dir() and any((cache / "cache").iterdir())
    assert sorted(p.name for p in work.iterdir()) == ["run"]
    assert (work / "run" / "last.npz").is_file()
    image = next((cache / "demo" / "val").rglob("*.JPEG"))
    shown = run([bin_ / "numpynet-predict", image, "--checkpoint", "run"], work, env)
    assert shown.splitlines()[0] == str(image) and "%" in shown


def test_the_wheels_predict_gives_torchvisions_top5(installed, tmp_path):
    """torchvision's AlexNet, random-seeded (no trained file can be downloaded here), saved as a
    state_dict: the installed numpynet-predict prints the top-5 that torchvision's own transforms
    and forward give for a real photo."""
    torch = pytest.importorskip("torch")
    tv = pytest.importorskip("torchvision")
    from data_fixtures import shared_data
    photo = shared_data("imagenet-samples") / "n01440764_tench.JPEG"
    if not photo.is_file():
        pytest.skip(f"no sample photo at {photo}")
    from numpynet.weights import pretrained, torchvision
    torch.manual_seed(0)
    model = tv.models.alexnet(weights=None).eval()
    torch.save(model.state_dict(), tmp_path / "alexnet.pth")
    bin_, work, env, _ = installed
    shown = run([bin_ / "numpynet-predict", photo, "--weights",
                 f"torchvision:{tmp_path / 'alexnet.pth'}"], work, env).splitlines()
    T = tv.transforms
    prepare = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                         T.Normalize(torchvision.MEAN.tolist(), torchvision.STD.tolist())])
    from PIL import Image
    with torch.no_grad():
        probs = torch.softmax(model(prepare(Image.open(photo).convert("RGB"))[None]), 1)[0]
    wnids, names = pretrained.imagenet_classes()
    top5 = probs.numpy().argsort()[::-1][:5]
    assert shown[0] == str(photo)
    assert [line[33:] for line in shown[1:6]] == [f"{names[j]} ({wnids[j]})" for j in top5]

