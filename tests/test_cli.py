"""The command-line conventions of train, bench, ablate, diagnostics and config: `--version`,
a `--help` line with the true default for every flag, and every value that cannot work refused
where it is parsed (exit status 2, a one-line message naming the flag)."""

import argparse
import subprocess
import sys
from dataclasses import fields

import pytest

import numpynet
from numpynet import ablate, diagnostics, settings, train
from numpynet.bench import cli as bench

COMMANDS = {"train": train.parse_args, "bench": bench.parse_args, "ablate": ablate.parse_args,
            "diagnostics": diagnostics.parse_args}

TRAIN_BAD = [
    ("--subset", "0"), ("--subset", "-3"), ("--subset", "ten"), ("--per-class", "0"),
    ("--val-per-class", "0"), ("--image-size", "0"), ("--workers", "0"),
    ("--preset", "vgg"), ("--init", "zeros"), ("--groups", "3"), ("--width", "0"),
    ("--width", "1.5"), ("--width", "nan"), ("--crop", "66"), ("--crop", "256"),
    ("--dropout", "1"), ("--dropout", "-0.1"), ("--pool-size", "4"),
    ("--epochs", "0"), ("--epochs", "-1"), ("--batch-size", "0"), ("--lr", "-1"),
    ("--lr", "0"), ("--lr", "nan"), ("--lr", "inf"), ("--momentum", "1"),
    ("--momentum", "-0.1"), ("--weight-decay", "-1"), ("--lr-schedule", "linear"),
    ("--lr-patience", "-1"), ("--lr-steps", "60,30"), ("--lr-steps", "0,10"),
    ("--lr-steps", "30,30"), ("--lr-steps", "soon"), ("--seed", "-1"), ("--seed", "1.5"),
    ("--device", "tpu"), ("--time-budget", "0"), ("--time-budget", "-5"),
    ("--check-weights-every", "-1"), ("--resume", "no/such/run"),
]
BENCH_BAD = [("--batch", "0"), ("--repeats", "0"), ("--warmup", "-1"), ("--threads", "0"),
             ("--ranks", "1"), ("--ranks", "129"), ("--preset", "vgg"), ("--groups", "3"),
             ("--device", "tpu"), ("--compare", "jax")]
ABLATE_BAD = [("--seeds", "0"), ("--epochs", "0"), ("--variants", "no-relu"), ("--lr", "-1"),
              ("--crop", "12")]
DIAGNOSTICS_BAD = [("--steps", "0"), ("--inits", "zeros"), ("--lr", "-1"), ("--dropout", "1")]

CASES = [(name, flag, value) for name, bad in (("train", TRAIN_BAD), ("bench", BENCH_BAD),
                                              ("ablate", ABLATE_BAD),
                                              ("diagnostics", DIAGNOSTICS_BAD))
         for flag, value in bad]


@pytest.mark.parametrize("command, flag, value", CASES,
                         ids=[f"{c}{f}={v}" for c, f, v in CASES])
def test_a_value_that_cannot_work_is_refused_where_it_is_parsed(command, flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        COMMANDS[command]([flag, value])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert flag in err.strip().splitlines()[-1], err       # the last line names the flag


def test_good_values_are_parsed():
    args = train.parse_args(["--lr-steps", "10,20", "--lr", "0.05", "--crop", "67",
                             "--image-size", "80", "--momentum", "0", "--dropout", "0"])
    assert args.lr_steps == (10, 20) and args.lr == 0.05 and args.crop == 67
    assert bench.parse_args(["--batch", "2", "--warmup", "0"]).warmup == 0


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_version(command, capsys):
    with pytest.raises(SystemExit) as e:
        COMMANDS[command](["--version"])
    assert e.value.code == 0 and numpynet.__version__ in capsys.readouterr().out


def test_config_version_and_bad_flag():
    run = [sys.executable, "-m", "numpynet.config"]
    done = subprocess.run(run + ["--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and numpynet.__version__ in done.stdout
    done = subprocess.run(run + ["--colour"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--colour" in done.stderr


def parser_of(command, monkeypatch):
    """The argparse parser that `command` builds (caught as it parses --help)."""
    seen, original = [], argparse.ArgumentParser.parse_known_args

    def record(self, *args, **kwargs):
        seen.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", record)
    with pytest.raises(SystemExit):
        COMMANDS[command](["--help"])
    return seen[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_has_a_line_and_the_default_for_every_flag(command, monkeypatch, capsys):
    parser = parser_of(command, monkeypatch)
    text = capsys.readouterr().out
    formatter = parser._get_formatter()
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or action.dest in ("help", "version"):
            continue
        flag = action.option_strings[-1]
        assert flag in text
        help_line = formatter._expand_help(action)
        assert help_line.strip(), f"{command} {flag} has no help"
        assert help_line.count("default") <= 1, f"{command} {flag}: {help_line}"
        for wrong in ("default: None", "default: True", "default: False"):
            assert wrong not in help_line, f"{command} {flag}: {help_line}"
        if action.nargs != 0:                         # not a switch: the default is said
            assert "(default: " in help_line, f"{command} {flag}: {help_line}"


def test_train_help_shows_the_declared_defaults(monkeypatch, capsys):
    parser = parser_of("train", monkeypatch)
    capsys.readouterr()
    helps = {a.dest: parser._get_formatter()._expand_help(a) for a in parser._actions}
    for f in fields(settings.RunSettings):
        if f.default is not None and not isinstance(f.default, bool):
            assert f"(default: {settings.shown(f.default)}" in helps[f.name], f.name
