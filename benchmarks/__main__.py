"""`python -m benchmarks ...`, which `retention bench ...` runs."""

import sys

from benchmarks.bench import main

sys.exit(main(sys.argv[1:]))
