"""`python -m keras_clinclip.cli` runs the `clinclip` command."""

import sys

from keras_clinclip.cli import main

if __name__ == "__main__":
    sys.exit(main())
