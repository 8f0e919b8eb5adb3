"""`python -m hostsw` (what `torchrun -m hostsw` runs on every rank): the `hostsw` command."""

import sys

from hostsw.cli import main

if __name__ == "__main__":
    sys.exit(main())
