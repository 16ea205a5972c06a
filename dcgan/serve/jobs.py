"""One background training job per server, watched by any number of visitors.

The app's training tab starts a `TrainingJob` through the `JobManager`; the job runs the Trainer
in a thread and records what it reports (curves, sample grids, warnings) so that every visitor,
and a refreshed page, sees the same job. Only one job runs at a time: a second start gets a
clear message. Nothing here imports gradio.

On a shared server the job has an owner and a budget. The owner is whoever holds the secret key
the job was started with (a visitor's browser); only they, or the host, may pause, resume or
stop it. The budget (`JobBudget`, from the host's `HostLimits`) caps the steps a job may ask for,
and a watchdog thread stops a job that has held the server's slot too long or sat paused too
long, so no visitor's page needs to be open for the limits to hold. And a job's starter (its key, or
its address) may not take the slot back the moment their job ends when another visitor asked for it
meanwhile: they wait as long as their job ran, so the slot cannot be held for hours by restarting.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import InitVar, dataclass, field
from pathlib import Path

import torch

from dcgan.device import lower_thread_priority
from dcgan.errors import DcganError
from dcgan.serve.hosting import HostLimits
from dcgan.training.chunked import chunked_events, on_zerogpu
from dcgan.training.run_writer import METRICS_FILE, PROGRESS_GIF
from dcgan.training.trainer import Trainer, TrainEvent

COLLAPSE_DIVERSITY = 0.25  # fixed-grid diversity below this share of its best so far: collapse warning
# ... or below this share of the training images' own diversity: a run that collapsed before it ever became
# diverse (e.g. to one grey checkerboard for every z) has no better "best" to fall from. A trained Fashion-MNIST
# model's samples are about as diverse as the data (ratio ~1.0), a collapsed grid near 0.
COLLAPSE_OF_DATA = 0.3
COLLAPSE_CLASS_SHARE = 0.5  # more than half of the fixed samples in one class: collapse warning
WARN_AFTER = 0.2  # no collapse warnings in the first 20% of a run: early samples are noise, which looks collapsed
D_WINS_D_FAKE = 0.02  # mean D(G(z)) below this over the last 200 steps: G gets no gradient
WATCH_EVERY_S = 1.0  # how often the watchdog looks at the clock
MAX_KEY_CHARS = 256  # an owner key longer than this is not one we handed out
NOT_YOURS = (
    "this training job was started by another visitor: you can watch it, but only they "
    "(or the server's host, with the host token) can pause, resume or stop it"
)


def grid_diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between the images (N, C, H, W), per pixel: 0 when all are the same."""
    flat = images.flatten(1).float()
    distances = torch.cdist(flat, flat)
    n = len(flat)
    return float(distances.sum() / max(n * (n - 1), 1) / flat.shape[1] ** 0.5)


def new_owner_key() -> str:
    """A fresh secret for a visitor's browser: whoever holds it controls the job started with it."""
    return secrets.token_urlsafe(24)


def _key_digest(key: object) -> bytes | None:
    """What the job keeps of its owner's key: a hash, so the key itself is never stored or shown. Of the
    key's UTF-8 bytes, lone surrogates (JSON allows "\\ud800") kept as they are: any string is a key."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_CHARS:
        return None
    return hashlib.sha256(key.strip().encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class JobBudget:
    """What one job may take of the server (0 = no limit); see dcgan/serve/hosting.py for the defaults."""

    max_steps: int = 0
    max_minutes: float = 0.0  # from the start, paused or not: the time the job holds the server's slot
    pause_minutes: float = 0.0  # a job paused this long is stopped

    @classmethod
    def from_limits(cls, limits: HostLimits) -> JobBudget:
        return cls(limits.job_max_steps, limits.job_max_minutes, limits.job_pause_minutes)

    def check_steps(self, total_steps: int, how: str = "") -> None:
        """DcganError when a job would train longer than the host allows; `how` explains the count."""
        if self.max_steps and total_steps > self.max_steps:
            detail = f" ({how})" if how else ""
            raise DcganError(
                f"that is {total_steps:,} training steps{detail}; this server allows at most "
                f"{self.max_steps:,} steps per job. Ask for fewer epochs or a larger batch, or train "
                "longer on your own machine with the CLI: python -m dcgan train --data ... --epochs N"
            )


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
    yours: bool = False  # the visitor asking holds the owner's key (the key itself is never in here)
    owned: bool = False  # a visitor started it (False: started by the server itself, e.g. a test or script)
    ends_in_s: float | None = None  # until the budget stops it: running, its time limit; paused, the pause limit


@dataclass
class TrainingJob:
    trainer: Trainer
    name: str
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None  # a classifier for class-share warnings
    class_names: list[str] | None = None
    owner_key: InitVar[str | None] = None  # the starter's secret; only its hash is kept (owner_digest)
    budget: JobBudget = field(default_factory=JobBudget)
    clock: Callable[[], float] = time.monotonic  # tests may pass a fake one
    watch_every_s: float = WATCH_EVERY_S
    status: str = "running"
    message: str = ""
    metrics: list[dict[str, float]] = field(default_factory=list)
    grids: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    progress_gif: str | None = None
    best_diversity: float = 0.0
    data_diversity: float | None = None  # of as many training images as the fixed grid holds; read once
    owner_digest: bytes | None = field(default=None, init=False)  # None: only the host may control the job
    owner_address: str | None = None  # where the start came from (the app's per-client key), for the cooldown
    wanted_by_others: bool = False  # another visitor asked for the slot while this job held it
    stop_reason: str = ""  # why the watchdog stopped it, put before the trainer's own message
    started_at: float = 0.0
    ended_at: float | None = None
    paused_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _ended: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self, owner_key: str | None) -> None:
        self.owner_digest = _key_digest(owner_key)

    def start(self) -> None:
        self.started_at = self.clock()
        self._thread = threading.Thread(target=self._run, name=f"training {self.name}", daemon=True)
        self._thread.start()
        if self.budget.max_minutes or self.budget.pause_minutes:
            threading.Thread(target=self._watch, name=f"budget of {self.name}", daemon=True).start()

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
        finally:
            self.ended_at = self.clock()
            self._ended.set()

    # ---- the budget ----

    def _watch(self) -> None:
        """Stop the job (with its checkpoint, through Trainer.stop) once it is over its time budget."""
        while not self._ended.wait(self.watch_every_s):
            reason = self.over_budget()
            if reason:
                with self._lock:
                    self.stop_reason = reason
                self.trainer.stop()
                return

    def over_budget(self) -> str:
        """Why the job must stop now ("" while it may go on)."""
        if self.finished or self.trainer.stop_requested:
            return ""
        now, budget = self.clock(), self.budget
        if budget.max_minutes and now - self.started_at >= budget.max_minutes * 60:
            return f"stopped after {_minutes(budget.max_minutes)}, this server's time limit for a training job"
        paused_at = self.paused_at
        if budget.pause_minutes and paused_at is not None and now - paused_at >= budget.pause_minutes * 60:
            return f"stopped after {_minutes(budget.pause_minutes)} paused, to free the server for others"
        return ""

    def _ends_in_s(self) -> float | None:
        if self.finished:
            return None
        now, budget, left = self.clock(), self.budget, []
        if budget.max_minutes:
            left.append(self.started_at + budget.max_minutes * 60 - now)
        if budget.pause_minutes and self.paused_at is not None:
            left.append(self.paused_at + budget.pause_minutes * 60 - now)
        return max(0.0, min(left)) if left else None

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
                # The trainer's own words ("resume with --resume") are for the command line; the page says
                # what happened in its own (ui/training.py), so only a diverged run's reason and the
                # watchdog's are kept.
                self.status = event.kind
                self.message = event.message if event.kind == "diverged" else self.stop_reason
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
        if self.data_diversity is None:
            self.data_diversity = grid_diversity(self.trainer.dataset.images[: len(images)])
        if step < WARN_AFTER * self.trainer.total_steps or len(self.grids) < 3:
            return
        if diversity < COLLAPSE_OF_DATA * self.data_diversity:
            self.warnings.append(
                f"step {step}: possible mode collapse: the fixed samples look alike, "
                f"{diversity / self.data_diversity:.0%} as diverse as the training images (a healthy run's are "
                "about as diverse as its data). If it lasts, G has collapsed onto a few outputs, or has not "
                "started to learn: try a lower learning rate, or start again with another seed"
            )
        elif diversity < COLLAPSE_DIVERSITY * self.best_diversity:
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

    def owned_by(self, key: object) -> bool:
        """Whether `key` is the one this job was started with (constant-time comparison, of bytes: a str
        with non-ASCII characters raises in compare_digest)."""
        digest = _key_digest(key)
        owner = self.owner_digest
        return digest is not None and owner is not None and secrets.compare_digest(digest, owner)

    def started_by(self, key: object, address: str | None) -> bool:
        """Whether a request with this key, or from this address, is the job's starter's."""
        return self.owned_by(key) or (address is not None and address == self.owner_address)

    def cooldown_left_s(self) -> float:
        """Seconds until its starter may start another job: as long as it held the slot, counted from its
        end, when another visitor asked for the slot meanwhile and the host limits a job's time (0 means no
        limit: the host did not ask to share the slot out); else 0."""
        if not (self.finished and self.wanted_by_others and self.budget.max_minutes):
            return 0.0
        now = self.clock()
        ended = self.ended_at if self.ended_at is not None else now  # the thread is just ending
        return max(0.0, ended + (ended - self.started_at) - now)

    def control(self, action: str, key: object = None, as_host: bool = False) -> None:
        """pause | resume | stop, for the owner or the host; DcganError for anyone else."""
        if action not in ("pause", "resume", "stop"):
            raise ValueError(f"unknown action {action!r}")
        owner = self.owned_by(key)
        if not (as_host or owner):
            raise DcganError(NOT_YOURS)
        if action == "stop" and not owner:
            with self._lock:
                self.stop_reason = self.stop_reason or "stopped by the server's host"
        getattr(self, action)()

    def pause(self) -> None:
        with self._lock:
            if self.paused_at is None:
                self.paused_at = self.clock()  # the pause budget runs from here
        self.trainer.pause()

    def resume(self) -> None:
        self.trainer.unpause()
        with self._lock:
            self.paused_at = None
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

    def snapshot(self, viewer_key: object = None) -> JobSnapshot:
        """What the visitor holding `viewer_key` sees (whether the job is theirs, never its key)."""
        yours = self.owned_by(viewer_key)
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
                yours=yours,
                owned=self.owner_digest is not None,
                ends_in_s=self._ends_in_s(),
            )


class JobManager:
    """Holds the server's one training job (the latest, finished or not), and the ended jobs whose starters
    must let others have a turn first (TrainingJob.cooldown_left_s)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.job: TrainingJob | None = None
        self._cooling: list[TrainingJob] = []  # ended jobs others waited for, while their cooldown lasts

    def check_free(self, owner_key: object = None, address: str | None = None) -> None:
        """DcganError if a job is running, or if the visitor asking (their key and address; none given: the
        server itself) must let others have the slot first. Ask this before any costly preparation."""
        job = self.job
        if job is not None and not job.finished:
            if (owner_key is not None or address is not None) and not job.started_by(owner_key, address):
                job.wanted_by_others = True  # so its starter cannot take the slot straight back
            snapshot = job.snapshot()
            raise DcganError(
                f"a training job is already running on this server ({snapshot.name}, step {snapshot.step} of "
                f"{snapshot.total_steps}); one job at a time: watch it here, or wait until it ends"
            )
        self._check_turn(owner_key, address)

    def _check_turn(self, owner_key: object, address: str | None) -> None:
        """DcganError while a job this visitor started is cooling down (see TrainingJob.cooldown_left_s)."""
        ended = [*self._cooling, *([self.job] if self.job is not None else [])]
        self._cooling = [job for job in self._cooling if job.cooldown_left_s() > 0]
        for job in ended:
            left = job.cooldown_left_s()
            if left > 0 and job.started_by(owner_key, address):
                held = _duration((job.ended_at or job.clock()) - job.started_at)
                raise DcganError(
                    f"your last training job held this server's one slot for {held} while another visitor "
                    f"waited for it; so that others get a turn, you can start the next one in {_duration(left)} "
                    "(anyone else can start one now)"
                )

    def start(
        self,
        make_trainer: Callable[[], Trainer],
        name: str,
        budget: JobBudget | None = None,
        **job_options,
    ) -> TrainingJob:
        """Build the trainer (may raise DcganError: bad data, bad settings) and start it, unless a job runs.

        `budget` is checked again on the built trainer's own step count; job_options go to TrainingJob
        (owner_key, owner_address, classify, class_names, clock, ...)."""
        budget = budget or JobBudget()
        with self._lock:
            self.check_free(job_options.get("owner_key"), job_options.get("owner_address"))
            trainer = make_trainer()
            budget.check_steps(trainer.total_steps)
            job = TrainingJob(trainer, name, budget=budget, **job_options)
            if self.job is not None and self.job.cooldown_left_s() > 0:
                self._cooling.append(self.job)
            self.job = job
            job.start()
            return job

    def control(self, action: str, key: object = None, as_host: bool = False) -> TrainingJob:
        """pause | resume | stop the running job, for its owner or the host (DcganError otherwise)."""
        job = self.job
        if job is None or job.finished:
            raise DcganError("no training job is running")
        job.control(action, key, as_host)
        return job

    def snapshot(self, viewer_key: object = None) -> JobSnapshot | None:
        job = self.job
        return job.snapshot(viewer_key) if job is not None else None


def finished_run_snapshot(run_dir: str | Path, max_rows: int = 2000) -> JobSnapshot | None:
    """A finished run directory (one with its progress.gif) as the Train tab shows a job: its curves
    (`max_rows` rows of metrics.jsonl, evenly thinned), its step grids and its GIF; None if not finished.
    How the tab shows "the last finished run" before any job ran on this server."""
    run_dir = Path(run_dir)
    if not (run_dir / PROGRESS_GIF).is_file():
        return None
    metrics = _thinned_rows(run_dir / METRICS_FILE, max_rows)
    grids = sorted((int(path.stem.split("_")[1]), str(path)) for path in (run_dir / "samples").glob("step_*.png"))
    step = int(metrics[-1]["step"]) if metrics else grids[-1][0] if grids else 0
    return JobSnapshot(
        status="done",
        name=run_dir.name,
        run_dir=str(run_dir),
        step=step,
        total_steps=step,
        metrics=metrics,
        grids=grids,
        warnings=[],
        message="",
        eta_s=None,
        progress_gif=str(run_dir / PROGRESS_GIF),
    )


def last_finished_run(runs_dir: str | Path) -> Path | None:
    """The most recently finished run under `runs_dir` (newest progress.gif), or None."""
    gifs = [gif for gif in Path(runs_dir).glob(f"*/{PROGRESS_GIF}") if gif.is_file()] if Path(runs_dir).is_dir() else []
    return max(gifs, key=lambda gif: gif.stat().st_mtime).parent if gifs else None


def _thinned_rows(path: Path, max_rows: int) -> list[dict[str, float]]:
    """The JSON rows of a metrics file, every k-th so that at most `max_rows` remain (the last one kept)."""
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keep = rows[:: max(1, -(-len(rows) // max_rows))]
    return keep + rows[-1:] if rows and keep[-1] is not rows[-1] else keep


def _duration(seconds: float) -> str:
    """Seconds in words for a message, rounded up: "45 min", "50 s"."""
    return f"{-(-seconds // 60):.0f} min" if seconds >= 60 else f"{max(1, -(-seconds // 1)):.0f} s"


def _minutes(minutes: float) -> str:
    if minutes >= 1:
        return f"{minutes:g} min"
    return f"{minutes * 60:.0f} s"


def wait_until(condition: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    """Poll `condition` until true or timeout; True if it became true (for tests and the CLI)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(poll)
    return condition()
