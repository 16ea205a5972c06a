"""Re-draw a run's fixed-noise grids from copies of its model at each checkpoint, each generator with its
own BatchNorm statistics, and build progress.gif from them. For EMA runs trained before the trainer
measured the EMA's statistics (2026-11-30): their grids were drawn with G's and drift in colour.

    python scripts/redraw_progress.py RUN_DIR SNAPSHOTS_DIR OUT_DIR [LAST_STEP]

SNAPSHOTS_DIR holds step-N/ folders, each a copy of the run's model folder taken at checkpoint N.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dcgan.nets.batchnorm_stats import measure_batchnorm_statistics
from dcgan.store.checkpoints import load_generator
from dcgan.training.run_writer import RunWriter
from dcgan.training.state import STATE_FILE, load_train_state

run, snaps, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
last = int(sys.argv[4]) if len(sys.argv) > 4 else 10**9
fixed = load_train_state(run / STATE_FILE).fixed_noise
writer = RunWriter(out)
for snap in sorted(snaps.glob("step-*"), key=lambda p: int(p.name.split("-")[1])):
    step = int(snap.name.split("-")[1])
    if step > last:
        continue
    generator = measure_batchnorm_statistics(load_generator(snap))
    with torch.no_grad():
        writer.grid(generator(fixed).float(), f"step_{step:07d}", step)
    print(step, flush=True)
print(writer.finish())
