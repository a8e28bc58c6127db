"""`python -m pipelines.cli ...`, the same as `retention ...`."""

import sys

from pipelines.cli import main

sys.exit(main())
