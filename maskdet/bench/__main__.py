"""`python -m maskdet.bench`, the same as `maskdet bench`: the benchmark with the app's runtime settings."""

import sys

from maskdet.bench import command

if __name__ == "__main__":
    sys.exit(command())
