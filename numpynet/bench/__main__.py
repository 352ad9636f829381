"""python -m numpynet.bench (numpynet/bench/__init__.py says what it measures)."""

from .cli import command

if __name__ == "__main__":
    command()
