"""`python -m wake_edge`: the same as the `wake-edge` command."""

import sys

from wake_edge.cli import main

sys.exit(main())
