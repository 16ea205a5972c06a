"""What a training run writes into its directory. The Trainer computes; a RunWriter writes.

Only one process writes a run: the single process, or rank 0 of a torchrun job. Benches and the
other ranks train with no writer at all. Every file is written atomically, except metrics.jsonl,
which is appended to and trimmed back to the checkpoint on resume.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from PIL import Image

from dcgan.images import make_grid, save_gif, save_png, to_pil
from dcgan.io_utils import atomic_write_text, remove_stale_temp_files
from dcgan.nets.config import RunConfig
from dcgan.store.model_files import CONFIG_FILE, DISCRIMINATOR_FILE, GENERATOR_FILE, save_tensors
from dcgan.training.state import STATE_FILE, TrainState, save_train_state

METRICS_FILE = "metrics.jsonl"
PROGRESS_GIF = "progress.gif"
SNAPSHOTS = "snapshots"  # the models kept every keep_every steps: snapshots/step-N, each a model folder
MAX_GIF_FRAMES = 60


class RunWriter:
    """The run directory: config.json, metrics.jsonl, samples/*.png, the checkpoint files, progress.gif."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._metrics = None
        self._grid_metadata: dict[str, str] = {}

    def begin(self, run_config: RunConfig, step: int) -> float:
        """Ready the directory for training from `step`; returns the training seconds logged up to it."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.run_dir)
        run_config.save(self.run_dir / CONFIG_FILE)
        train = run_config.train
        self._grid_metadata = {"run": self.run_dir.name}  # what a downloaded grid says it shows
        if train is not None:
            self._grid_metadata |= {
                "data": train.data,
                "figure": f"the fixed-noise grid: the same {train.n_fixed} z (seed {train.seed}) at every step",
            }
        elapsed = self._truncate_metrics(step)
        self._metrics = open(self.run_dir / METRICS_FILE, "a")
        return elapsed

    def log(self, record: dict[str, float]) -> None:
        self._metrics.write(json.dumps(record) + "\n")

    def grid(self, images: torch.Tensor, name: str, step: int) -> tuple[object, Path]:
        """Save images (N, C, H, W) in [-1, 1] as samples/<name>.png; returns (the uint8 grid, its path)."""
        grid = make_grid(images)
        metadata = self._grid_metadata | {"step": str(step)}
        return grid, save_png(to_pil(grid), self.run_dir / "samples" / f"{name}.png", metadata)

    def checkpoint(
        self, sampler: torch.nn.Module, discriminator: torch.nn.Module, state: TrainState, keep: bool = False
    ) -> Path:
        """The published G and D first, then the full state: a run with a state is always a loadable model.
        `keep`: also a model folder of this step's G and D in snapshots/step-N (TrainConfig.keep_every)."""
        if self._metrics is not None:
            self._metrics.flush()
        folders = [self.run_dir] + ([self.run_dir / SNAPSHOTS / f"step-{state.step}"] if keep else [])
        for folder in reversed(folders):  # the snapshot first: the run's own files end up the newest
            folder.mkdir(parents=True, exist_ok=True)
            save_tensors(folder / GENERATOR_FILE, sampler.state_dict())
            save_tensors(folder / DISCRIMINATOR_FILE, discriminator.state_dict())
            if folder != self.run_dir:
                atomic_write_text(folder / CONFIG_FILE, (self.run_dir / CONFIG_FILE).read_text())
        save_train_state(self.run_dir / STATE_FILE, state)
        return self.run_dir / STATE_FILE

    def finish(self) -> Path | None:
        """Close the metrics and write progress.gif from the step grids; returns its path (None without grids)."""
        self.close()
        frames = sorted((self.run_dir / "samples").glob("step_*.png"))
        if not frames:
            return None
        stride = max(1, math.ceil(len(frames) / MAX_GIF_FRAMES))
        chosen = frames[::stride]
        if chosen[-1] != frames[-1]:
            chosen.append(frames[-1])
        images = [Image.open(frame).convert("RGB") for frame in chosen]
        return save_gif(images, self.run_dir / PROGRESS_GIF, frame_ms=150)

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()
            self._metrics = None

    def _truncate_metrics(self, step: int) -> float:
        """Drop metric lines past the checkpoint we resume from (a killed run logged them);
        return the training time recorded up to that checkpoint."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return 0.0
        kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [record for record in kept if record["step"] <= step]
        path.write_text("".join(json.dumps(record) + "\n" for record in kept))
        return kept[-1].get("elapsed_s", 0.0) if kept else 0.0
