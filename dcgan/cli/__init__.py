"""The command line: `python -m dcgan train | sample | interpolate | import | eval | publish | figure`.

Thin wrappers over library calls (main.py; the paper's figures in figures.py). Errors a user can cause
print one line and exit 2. May import any layer except dcgan.ui.
"""
