"""DCGAN Explorer: the browser app. Hugging Face Spaces runs this file.

The UI arrives with the next issue (#4); the library and CLI are complete:
    python -m dcgan --help
"""

import sys

if __name__ == "__main__":
    print("DCGAN Explorer: the UI arrives in the next issue. Meanwhile use the CLI: python -m dcgan --help")
    sys.exit(0)
