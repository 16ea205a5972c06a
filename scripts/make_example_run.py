"""Copy a finished (or stopped) run into a small example run: what the app's Train tab shows before any job
ran on its server (dcgan/ui/training_view.py, EXAMPLE_RUN), and the same layout as a run directory.

    python scripts/make_example_run.py runs/fmnist32-long assets/fashion-mnist-32-run --grids 12 --rows 600

Keeps `--grids` step grids evenly spread over the run (the last one included), `--rows` evenly thinned rows of
metrics.jsonl, config.json, and writes progress.gif from the kept grids. No weights: it is a picture of a run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.images import save_gif  # noqa: E402
from dcgan.training.run_writer import METRICS_FILE, PROGRESS_GIF  # noqa: E402


def evenly(items: list, count: int) -> list:
    """`count` items spread evenly from the first to the last (all of them when fewer)."""
    if len(items) <= count:
        return items
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--grids", type=int, default=12)
    parser.add_argument("--rows", type=int, default=600)
    args = parser.parse_args()
    grids = evenly(sorted((args.run / "samples").glob("step_*.png")), args.grids)
    if not grids:
        parser.error(f"{args.run} has no samples/step_*.png")
    shutil.rmtree(args.out, ignore_errors=True)
    (args.out / "samples").mkdir(parents=True)
    for grid in grids:
        shutil.copyfile(grid, args.out / "samples" / grid.name)
    shutil.copyfile(args.run / "config.json", args.out / "config.json")
    rows = (args.run / METRICS_FILE).read_text().splitlines()
    kept = evenly(rows, args.rows)
    (args.out / METRICS_FILE).write_text("\n".join(json.dumps(json.loads(row)) for row in kept) + "\n")
    save_gif([Image.open(grid).convert("RGB") for grid in grids], args.out / PROGRESS_GIF, frame_ms=400)
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    print(f"{args.out}: {len(grids)} grids, {len(kept)} metric rows, {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
