"""python -m numpynet.config: the list of numpynet's environment variables (see __init__.py)."""

import sys

from . import main

sys.exit(main())
