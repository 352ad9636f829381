"""python -m numpynet.config: the list of numpynet's environment variables (see __init__.py)."""

import argparse
import sys

from .. import __version__
from . import __doc__ as about
from . import main

parser = argparse.ArgumentParser(prog="python -m numpynet.config", description=about,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--version", action="version", version=f"numpynet {__version__}")
_, stray = parser.parse_known_args()
if stray:
    parser.error(f"unexpected argument {stray[0]!r}")
sys.exit(main([]))
