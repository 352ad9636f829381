"""Every setting of a training run, declared once: its default, its check and its one-line help.

    ModelSettings    the network (models/alexnet.py): preset, init, groups, width, crop, ...
    DataSettings     which images, and how they are cached
    TrainSettings    optimisation, schedule, augmentation, seed
    SessionSettings  this invocation only: device, time budget, processes, output, --resume
    RunSettings      all four, flat (settings.lr, settings.crop): what train's command line gives

`python -m numpynet.train` builds its flags from these fields (`add_flags`: the flag is the
field's name with dashes, its help the field's `help` and its true default); the benchmark takes
its model flags from ModelSettings. A run stores its settings in config.json and in every
checkpoint (meta["args"], `dataclasses.asdict`), and `--resume RUN` continues with the saved
settings replaced by the flags given (`resumed`): a SessionSettings field is never carried over.

Every number is checked where it is parsed (`number`): `--lr -1` is an argparse error that names
the flag, not a run that diverges.
"""

import argparse
import math
from dataclasses import dataclass, field, fields, replace

from . import config
from .models import INITS, PRESETS
from .schedule import KINDS as LR_SCHEDULES


# ------------------------------------------------------------------ checks, as argparse types

def number(kind, rule, ok=lambda value: True, what=None):
    """An argparse `type`: text -> `kind` (int or float), finite, with ok(value); otherwise
    "argument --flag: must be <rule>, got <text>" (or "<text> is not <what>")."""
    what = what or ("a whole number" if kind is int else "a number")

    def parse(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value
    parse.__name__ = kind.__name__             # argparse's own messages name the type
    return parse


COUNT = number(int, "a whole number >= 1", lambda v: v >= 1)
NON_NEGATIVE_INT = number(int, "a whole number >= 0", lambda v: v >= 0)
POSITIVE = number(float, "> 0", lambda v: v > 0)
NON_NEGATIVE = number(float, ">= 0", lambda v: v >= 0)
FRACTION = number(float, "in [0, 1)", lambda v: 0 <= v < 1)
MINUTES = number(float, "a positive number of minutes", lambda v: v > 0, "a number of minutes")
SMALLEST_CROP = 67                     # the smallest input that survives the three poolings


def epoch_list(text):
    """argparse type of --lr-steps: "30,60,80" -> (30, 60, 80), positive and increasing."""
    try:
        steps = tuple(int(s) for s in str(text).split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of epochs like 30,60,80") \
            from None
    if not steps or steps[0] < 1 or any(b <= a for a, b in zip(steps, steps[1:])):
        raise argparse.ArgumentTypeError(f"must be increasing epochs >= 1 like 30,60,80, "
                                         f"got {text}")
    return steps


def setting(default, help, kind=None, choices=None, shown=None, flag=None, metavar=None):
    """A settings field: `default`, a one-line `help`, and how its flag parses (`kind`: an
    argparse type, `choices`); `shown` says the default in words where the value cannot (None:
    "all CPUs"); `flag` names a switch that differs from the field (--no-lrn for lrn)."""
    return field(default=default, metadata=dict(help=help, kind=kind, choices=choices,
                                                 shown=shown, flag=flag, metavar=metavar))


# ------------------------------------------------------------------ the settings

@dataclass
class ModelSettings:
    """The network (models/alexnet.py; the number of classes comes from the data)."""
    preset: str = setting("paper", "network variant (models/alexnet.py)", choices=PRESETS)
    init: str = setting("he", "weight init: he starts learning reliably; he16 lets conv1 learn "
                              "16x faster (figure 3 in a short run, slower at first); paper and "
                              "caffe can stall (see numpynet/models/alexnet.py)", choices=INITS)
    groups: int = setting(2, "2: the paper's two-GPU split of conv2/4/5; 1: one tower",
                          kind=int, choices=(1, 2))
    width: float = setting(1.0, "channel-width multiplier in (0, 1]: smaller for quick "
                                "experiments", shown="1.0, the paper's",
                           kind=number(float, "in (0, 1]", lambda v: 0 < v <= 1))
    crop: int = setting(227, f"input crop side, >= {SMALLEST_CROP} and below --image-size "
                             f"(smaller for quick runs)", shown="227, the paper's",
                        kind=number(int, f"a whole number >= {SMALLEST_CROP} (smaller inputs "
                                         f"vanish in the three poolings)",
                                    lambda v: v >= SMALLEST_CROP))
    dropout: float = setting(0.5, "dropout probability in fc6 and fc7, in [0, 1) (0: none)",
                             kind=FRACTION, shown="0.5, the paper's")
    pool_size: int = setting(3, "max-pooling window at stride 2: 3 overlaps, 2 does not",
                             kind=int, choices=(2, 3), shown="3, the paper's")
    lrn: bool = setting(True, "leave out local response normalisation (presets paper and caffe)",
                        flag="--no-lrn")


@dataclass
class DataSettings:
    """Which images a run trains on, and where they are cached (data/)."""
    data: str = setting(None, "ImageNet folder with train/<wnid>/ and val/",
                        shown=f"$NUMPYNET_DATA, else {config.default('NUMPYNET_DATA')}; "
                              f"absent: a generated demo set")
    subset: int = setting(None, "use N classes, evenly spaced over the sorted wnids",
                          kind=COUNT, shown="all", metavar="N")
    classes: str = setting(None, "file listing the wnids to use (one per line)", shown="all",
                           metavar="FILE")
    per_class: int = setting(None, "at most M training images per class", kind=COUNT,
                             shown="all", metavar="M")
    val_per_class: int = setting(None, "at most M validation images per class", kind=COUNT,
                                 shown="all", metavar="M")
    val_labels: str = setting(None, "label file for a flat val/ folder (<file> <wnid> lines)",
                              shown="none: val/<wnid>/ folders", metavar="FILE")
    image_size: int = setting(256, "cached image side", kind=COUNT, shown="256, the paper's")
    cache: str = setting(None, "cache folder",
                         shown=f"$NUMPYNET_CACHE, else {config.default('NUMPYNET_CACHE')}")
    workers: int = setting(None, "decoding processes", kind=COUNT, shown="all CPUs")


@dataclass
class TrainSettings:
    """Optimisation (SGD, optim.py), the lr schedule (schedule.py), augmentation, the seed."""
    epochs: int = setting(90, "epochs in all", kind=COUNT,
                          shown="90, the paper's; with --resume: the saved run's")
    batch_size: int = setting(128, "images per SGD step", kind=COUNT, shown="128, the paper's")
    lr: float = setting(0.01, "learning rate at the start, > 0", kind=POSITIVE,
                        shown="0.01, the paper's")
    momentum: float = setting(0.9, "SGD momentum, in [0, 1)", kind=FRACTION,
                              shown="0.9, the paper's")
    weight_decay: float = setting(5e-4, "weight decay of the weights (not the biases), >= 0",
                                  kind=NON_NEGATIVE, shown="0.0005, the paper's")
    lr_schedule: str = setting("plateau", "plateau: /10 when val error stops improving; step: "
                                          "/10 at --lr-steps; constant; cosine: to 0 at the end "
                                          "of --time-budget (restarting over a resumed run's new "
                                          "budget), else of --epochs", choices=LR_SCHEDULES)
    lr_patience: int = setting(1, "plateau: epochs without improvement before dividing the lr",
                               kind=NON_NEGATIVE_INT)
    lr_steps: tuple = setting((30, 60, 80), "step: epochs at which to divide by 10",
                              kind=epoch_list, shown="30,60,80")
    no_pca: bool = setting(False, "turn off PCA colour augmentation")
    seed: int = setting(0, "same seed, same run", kind=NON_NEGATIVE_INT)


@dataclass
class SessionSettings:
    """This invocation only: --resume never carries these over from the saved run."""
    device: str = setting("cpu", "cpu (NumPy) or gpu (CuPy; needs numpynet-alexnet[gpu-cuda12] or "
                                 "[gpu-cuda13])", choices=("cpu", "gpu"))
    time_budget: float = setting(None, "stop after MINUTES of wall time from the first training "
                                       "step (checked per batch; --epochs still caps it); with "
                                       "--resume: MINUTES more", kind=MINUTES,
                                 shown="none: train to --epochs", metavar="MINUTES")
    distributed: bool = setting(False, "use MPI (implied when mpirun started this process)")
    model_parallel: bool = setting(False, "the paper's two-GPU split: one tower per rank "
                                          "(mpirun -n 2); without it, P ranks are data parallel")
    overlap: bool = setting(True, "data parallel: allreduce the gradients after backward, not "
                                  "during", flag="--no-overlap")
    check_weights_every: int = setting(100, "data parallel: check that all ranks hold the same "
                                            "weights every STEPS steps (0: never)",
                                       kind=NON_NEGATIVE_INT, metavar="STEPS")
    out: str = setting(None, "run folder", shown="runs/<date-time>; with --resume: RUN")
    resume: str = setting(None, "continue the run in this folder: its saved settings, replaced "
                                "by the flags given", shown="a new run", metavar="RUN")
    no_progress: bool = setting(False, "no progress bars")


@dataclass
class RunSettings(SessionSettings, TrainSettings, DataSettings, ModelSettings):
    """Everything `python -m numpynet.train` is told, in one flat record (fields: model, data,
    training, this invocation)."""

    def problems(self):
        """What no single flag's check can see: one line per conflict (empty: none)."""
        found = []
        if self.crop >= self.image_size:
            found.append(f"--crop {self.crop} must be smaller than --image-size "
                         f"{self.image_size} (the random crops need room to move)")
        return found

    def model(self):
        """The ModelSettings part."""
        return ModelSettings(**{f.name: getattr(self, f.name) for f in fields(ModelSettings)})


GROUPS = (("data", DataSettings), ("model", ModelSettings), ("training", TrainSettings),
          ("this invocation (never carried over by --resume)", SessionSettings))


# ------------------------------------------------------------------ flags and resume

def shown(value):
    """A setting's value as its flag takes it: (30, 60, 80) -> 30,60,80."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def flag_name(f):
    return f.metadata["flag"] or "--" + f.name.replace("_", "-")


def add_flags(parser, declared, only=None, defaults=True):
    """Add a flag for each field of the dataclass `declared` (or those named in `only`) to
    `parser` (a parser or a group). `defaults=False` leaves unset flags out of the parsed
    namespace (argparse.SUPPRESS), so that it holds only what was given."""
    for f in fields(declared):
        if only is not None and f.name not in only:
            continue
        m = f.metadata
        default = f.default if defaults else argparse.SUPPRESS
        if isinstance(f.default, bool):             # a switch: giving it flips the default
            parser.add_argument(flag_name(f), dest=f.name, help=m["help"], default=default,
                                action="store_false" if f.default else "store_true")
            continue
        said = m["shown"] or shown(f.default)
        parser.add_argument(flag_name(f), dest=f.name, type=m["kind"], choices=m["choices"],
                            metavar=m["metavar"], default=default,
                            help=f"{m['help']} (default: {said})".replace("%", "%%"))


def parser_for(prog, description, defaults=True):
    """train's whole command line: --version, then one argparse group per dataclass."""
    from . import __version__
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--version", action="version", version=f"numpynet {__version__}")
    for title, declared in GROUPS:
        add_flags(p.add_argument_group(title), declared, defaults=defaults)
    return p


def from_saved(saved):
    """RunSettings from a run's saved settings (config.json, a checkpoint's meta["args"]):
    fields it lacks (an older run) take their defaults, SessionSettings fields and unknown keys
    are dropped, and older text forms are parsed (--lr-steps was saved as "30,60,80")."""
    session = {f.name for f in fields(SessionSettings)}
    values = {}
    for f in fields(RunSettings):
        if f.name in saved and f.name not in session:
            value = saved[f.name]
            if isinstance(value, list):
                value = tuple(value)                 # JSON has no tuples
            if isinstance(value, str) and f.metadata["kind"] is not None:
                value = f.metadata["kind"](value)
            values[f.name] = value
    return RunSettings(**values)


def resumed(saved, given):
    """--resume: the saved run's settings replaced by those `given` on the command line (a
    dict), writing into the run's own folder."""
    return replace(from_saved(saved), **{**given, "out": given["resume"]})


def changed_model(saved, given):
    """The model flags in `given` that differ from the saved run's (a checkpoint's weights fit
    only the network they were trained in)."""
    before = from_saved(saved)
    return [flag_name(f) for f in fields(ModelSettings)
            if f.name in given and given[f.name] != getattr(before, f.name)]
