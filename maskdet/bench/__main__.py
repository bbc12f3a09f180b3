"""`python -m maskdet.bench`: run the benchmark with the app's runtime settings."""

import sys

from maskdet.bench.cli import main
from maskdet.inference import assume_frozen_weights

if __name__ == "__main__":
    # The app's runtime setting, so that the in-process figures use the same kernels.
    assume_frozen_weights()
    sys.exit(main())
