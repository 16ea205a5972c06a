"""python -m dcgan ...: the command line, which lives in dcgan/cli/main.py."""

import sys

from dcgan.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
