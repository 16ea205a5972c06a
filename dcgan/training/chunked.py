"""Training in short chunks, for Hugging Face ZeroGPU Spaces.

On ZeroGPU the GPU exists only inside functions decorated with `spaces.GPU`, for at most `duration`
seconds per call, and the call runs in another process (arguments and results are pickled). So
there a job trains chunk by chunk: each `train_chunk` call resumes the run from its checkpoint,
trains up to a given step on the GPU, checkpoints, and returns its events as plain CPU data. The
run's checkpoint files carry everything between calls, and resuming is exact (tests/test_train.py),
so a chunked run ends with the same weights as one long call.

Not measured on a real ZeroGPU Space (none here): `spaces` is only imported when SPACES_ZERO_GPU is set.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dcgan.data.dataset import ImageDataset
from dcgan.nets.config import ModelConfig, TrainConfig
from dcgan.training.state import STATE_FILE
from dcgan.training.trainer import Trainer, TrainEvent

CHUNK_SECONDS = 40  # training per GPU call; the decorator's limit below leaves room for loading and saving
GPU_DURATION = 60  # ZeroGPU's default limit per call
FIRST_CHUNK_STEPS = 50  # until the speed on that GPU is known


def on_zerogpu() -> bool:
    return "SPACES_ZERO_GPU" in os.environ


def train_chunk(
    model_config: ModelConfig, train_config: TrainConfig, run_dir: str, dataset: ImageDataset, until_step: int
) -> list[TrainEvent]:
    """Train the run in `run_dir` (a new one if it has no checkpoint yet) up to `until_step`, checkpoint,
    and return what happened. Runs wherever it is called: inside spaces.GPU on ZeroGPU."""
    if (Path(run_dir) / STATE_FILE).is_file():
        trainer = Trainer.from_run(run_dir, dataset=dataset)
    else:
        trainer = Trainer(model_config, train_config, run_dir, dataset=dataset)
    events = []
    for event in trainer.run(until=until_step):  # checkpoints at until_step and ends with "stopped" there
        if event.images is not None:
            event = dataclasses.replace(event, images=event.images.cpu())
        events.append(event)
    return events


def gpu_train_chunk():
    """train_chunk, wrapped in spaces.GPU on a ZeroGPU Space."""
    if not on_zerogpu():
        return train_chunk
    import spaces  # only present on Spaces

    return spaces.GPU(duration=GPU_DURATION)(train_chunk)


def chunked_events(
    trainer: Trainer, chunk=None, chunk_seconds: float = CHUNK_SECONDS, first_chunk_steps: int = FIRST_CHUNK_STEPS
) -> Iterator[TrainEvent]:
    """Like trainer.run(), but trained by `chunk` calls (default: gpu_train_chunk()). `trainer` is only
    the handle here (configs, run folder, dataset, pause/stop flags, step): it trains nothing itself."""
    chunk = chunk or gpu_train_chunk()
    steps = first_chunk_steps

    def handle_event(kind: str, message: str) -> TrainEvent:
        epoch = trainer.step // trainer.steps_per_epoch
        return TrainEvent(kind, trainer.step, trainer.total_steps, epoch, message=message)

    while True:
        if trainer.stop_requested:
            break
        if trainer.paused:
            yield handle_event("paused", "paused")
            trainer.wait_while_paused()
            continue
        started, first = time.perf_counter(), trainer.step
        until = min(trainer.step + steps, trainer.total_steps)
        events = chunk(trainer.model_config, trainer.config, str(trainer.run_dir), trainer.dataset, until)
        for event in events:
            trainer.step = event.step
            last_chunk = until >= trainer.total_steps or trainer.stop_requested
            if event.kind == "stopped" and not last_chunk:
                continue  # the chunk's end, not the job's
            yield event
            if event.kind in ("done", "diverged") or (event.kind == "stopped" and last_chunk):
                return
        per_step = (time.perf_counter() - started) / max(trainer.step - first, 1)
        steps = max(1, int(chunk_seconds / per_step))
    yield handle_event("stopped", f"stopped at step {trainer.step}")
