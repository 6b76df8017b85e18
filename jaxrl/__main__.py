"""`python -m jaxrl ...` is the `jaxrl` command, for environments whose scripts are not on PATH."""

import sys

from jaxrl.cli import main

sys.exit(main())
