"""`python -m maskdet SUBCOMMAND`: the `maskdet` command from a checkout (see maskdet.cli)."""

import sys

from maskdet.cli import main

if __name__ == "__main__":
    sys.exit(main())
