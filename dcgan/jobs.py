"""One background training job per server, watched by any number of visitors.

The app's training tab starts a `TrainingJob` through the `JobManager`; the job runs the Trainer
in a thread and records what it reports (curves, sample grids, warnings) so that every visitor,
and a refreshed page, sees the same job. Only one job runs at a time: a second start gets a
clear message. Nothing here imports gradio.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .chunked import chunked_events, on_zerogpu
from .device import lower_thread_priority
from .errors import DcganError
from .train import Trainer, TrainEvent

COLLAPSE_DIVERSITY = 0.25  # fixed-grid diversity below this share of its best so far: collapse warning
COLLAPSE_CLASS_SHARE = 0.5  # more than half of the fixed samples in one class: collapse warning
WARN_AFTER = 0.2  # no collapse warnings in the first 20% of a run: early samples are noise, which looks collapsed
D_WINS_D_FAKE = 0.02  # mean D(G(z)) below this over the last 200 steps: G gets no gradient


def grid_diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between the images (N, C, H, W), per pixel: 0 when all are the same."""
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat)
    n = len(flat)
    return float(distances.sum() / max(n * (n - 1), 1) / flat.shape[1] ** 0.5)


@dataclass
class JobSnapshot:
    """What a visitor's page shows about the job (plain data, safe to hand to any thread)."""

    status: str  # idle | running | paused | done | stopped | diverged | failed
    name: str
    run_dir: str
    step: int
    total_steps: int
    metrics: list[dict[str, float]]  # one row per logged step: step, loss_d, loss_g, d_real, d_fake, images_per_s
    grids: list[tuple[int, str]]  # (step, PNG path) of each fixed-noise grid, oldest first
    warnings: list[str]
    message: str
    eta_s: float | None
    progress_gif: str | None


@dataclass
class TrainingJob:
    trainer: Trainer
    name: str
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None  # a classifier for class-share warnings
    class_names: list[str] | None = None
    status: str = "running"
    message: str = ""
    metrics: list[dict[str, float]] = field(default_factory=list)
    grids: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    progress_gif: str | None = None
    best_diversity: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"training {self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        lower_thread_priority()  # before any torch op here: the visitors' requests come first
        try:
            # On a ZeroGPU Space the GPU is lent per call: train in chunks there (see chunked.py).
            events = chunked_events(self.trainer) if on_zerogpu() else self.trainer.run()
            for event in events:
                self._record(event)
        except Exception as error:  # the page must show it; the run's last checkpoint is kept
            with self._lock:
                self.status, self.message = "failed", f"training stopped with an error: {error}"

    def _record(self, event: TrainEvent) -> None:
        with self._lock:
            if event.kind == "step":
                row = {"step": event.step} | {k: float(v) for k, v in event.metrics.items()}
                self.metrics.append(row)
                self._check_d_wins()
                if self.status == "paused":
                    self.status = "running"
            elif event.kind == "sample" and event.path is not None:
                self.grids.append((event.step, str(event.path)))
                if event.images is not None:
                    self._check_collapse(event.step, event.images)
            elif event.kind == "paused":
                self.status = "paused"
            elif event.kind in ("done", "stopped", "diverged"):
                self.status, self.message = event.kind, event.message
                if event.kind == "diverged":
                    self.warnings.append(event.message)
                self.progress_gif = str(event.path) if event.path else None

    def _check_d_wins(self) -> None:
        recent = self.metrics[-200:]
        if len(recent) == 200 and sum(row["d_fake"] for row in recent) / 200 < D_WINS_D_FAKE:
            warning = (
                "D wins: D(G(z)) has stayed near 0 for 200 steps, so G learns little. Try label smoothing, "
                "a lower D learning rate, or the non-saturating G loss."
            )
            if warning not in self.warnings:
                self.warnings.append(warning)

    def _check_collapse(self, step: int, images: torch.Tensor) -> None:
        diversity = grid_diversity(images)
        self.best_diversity = max(self.best_diversity, diversity)
        if step < WARN_AFTER * self.trainer.total_steps or len(self.grids) < 3:
            return
        if diversity < COLLAPSE_DIVERSITY * self.best_diversity:
            share = diversity / self.best_diversity
            self.warnings.append(
                f"step {step}: possible mode collapse: the fixed samples are {share:.0%} as diverse as at their best"
            )
        if self.classify is not None and self.class_names:
            with torch.inference_mode():
                predicted = self.classify(images).argmax(1)
            counts = torch.bincount(predicted, minlength=len(self.class_names))
            share = float(counts.max()) / len(predicted)
            if share > COLLAPSE_CLASS_SHARE:
                name = self.class_names[int(counts.argmax())]
                self.warnings.append(
                    f"step {step}: possible mode collapse: {share:.0%} of the fixed samples are {name}"
                )

    # ---- control ----

    def pause(self) -> None:
        self.trainer.pause()

    def resume(self) -> None:
        self.trainer.unpause()
        with self._lock:
            if self.status == "paused":
                self.status = "running"

    def stop(self) -> None:
        self.trainer.stop()

    @property
    def finished(self) -> bool:
        return self.status in ("done", "stopped", "diverged", "failed")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job's thread ends (tests, shutdown); True if it did."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self._thread is None or not self._thread.is_alive()

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            eta = self.metrics[-1].get("eta_s") if self.metrics and not self.finished else None
            return JobSnapshot(
                status=self.status,
                name=self.name,
                run_dir=str(self.trainer.run_dir),
                step=self.trainer.step,
                total_steps=self.trainer.total_steps,
                metrics=list(self.metrics),
                grids=list(self.grids),
                warnings=list(self.warnings),
                message=self.message,
                eta_s=eta,
                progress_gif=self.progress_gif,
            )


class JobManager:
    """Holds the server's one training job (the latest, finished or not)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.job: TrainingJob | None = None

    def start(self, make_trainer: Callable[[], Trainer], name: str, **job_options) -> TrainingJob:
        """Build the trainer (may raise DcganError: bad data, bad settings) and start it, unless a job runs."""
        with self._lock:
            if self.job is not None and not self.job.finished:
                snapshot = self.job.snapshot()
                raise DcganError(
                    f"a training job is already running on this server ({snapshot.name}, step {snapshot.step} of "
                    f"{snapshot.total_steps}); one job at a time: watch it here, or wait until it ends"
                )
            job = TrainingJob(make_trainer(), name, **job_options)
            self.job = job
            job.start()
            return job

    def snapshot(self) -> JobSnapshot | None:
        job = self.job
        return job.snapshot() if job is not None else None


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """Poll `condition` until true or timeout; True if it became true (for tests and the CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()
