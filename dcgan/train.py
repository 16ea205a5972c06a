"""The Trainer: one GAN step, a loop that yields events, checkpoints and exact resume.

No UI code here. The CLI prints the events, the app's training tab shows them; both may
pause or stop the loop from another thread. A run directory holds:

    config.json                  model + training config (the run is also a model folder)
    model.safetensors            latest generator      (updated at every checkpoint)
    discriminator.safetensors    latest discriminator
    training_state.safetensors   everything --resume needs
    metrics.jsonl                one line per step
    samples/step_*.png           fixed-noise grids; samples/epoch_*.png at each epoch's end
    progress.gif                 the fixed-noise grid through training
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .checkpoints import CONFIG_FILE, DISCRIMINATOR_FILE, GENERATOR_FILE, save_tensors
from .config import ModelConfig, RunConfig, TrainConfig
from .data import ImageDataset, augment, load_dataset
from .device import configure, pick_device, set_threads
from .errors import DcganError
from .images import make_grid, save_gif, save_png, to_pil
from .io_utils import remove_stale_temp_files
from .latent import cpu_generator, sample_noise
from .models import Discriminator, Generator
from .train_state import STATE_FILE, TrainState, load_train_state, save_train_state

METRICS_FILE = "metrics.jsonl"
PROGRESS_GIF = "progress.gif"
MAX_GIF_FRAMES = 60


@dataclass
class TrainEvent:
    """What the loop reports. kind: step | sample | checkpoint | epoch | paused | done | stopped | diverged."""

    kind: str
    step: int
    total_steps: int
    epoch: int
    metrics: dict[str, float] = field(default_factory=dict)  # loss_d, loss_g, d_real, d_fake, images_per_s, eta_s
    grid: np.ndarray | None = None  # (H, W, C) uint8 fixed-noise grid, on "sample" events
    images: torch.Tensor | None = None  # (n_fixed, nc, S, S) in [-1, 1]: the grid's images, on "sample" events
    path: Path | None = None  # file written, on sample/checkpoint/done events
    message: str = ""


class Trainer:
    """Trains a DCGAN into `run_dir`. Use `Trainer(...)` for a new run, `Trainer.from_run(dir)` to resume."""

    def __init__(
        self,
        model_config: ModelConfig,
        train_config: TrainConfig,
        run_dir: str | Path,
        dataset: ImageDataset | None = None,
        _state: TrainState | None = None,
    ):
        self.model_config, self.config = model_config, train_config
        self.run_dir = Path(run_dir)
        self.device = pick_device(train_config.device)
        configure(self.device)
        self.threads = set_threads()
        self.dataset = dataset or load_dataset(
            train_config.data, model_config.image_size, channels=model_config.nc, limit=train_config.limit
        )
        self._check_dataset()
        self.steps_per_epoch = len(self.dataset) // train_config.batch_size
        self.total_steps = self._total_steps()

        seed = train_config.seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # model init only; the caller's global RNG is left alone
            self.generator = Generator(model_config)
            self.discriminator = Discriminator(model_config)
        self.noise_rng = cpu_generator(seed + 1)  # per-step z
        self.augment_rng = cpu_generator(seed + 2)
        self.dropout_rng_state = cpu_generator(seed + 3).get_state()  # D's dropout (global RNG)
        self.fixed_noise = sample_noise(train_config.n_fixed, model_config.nz, model_config.noise, seed=seed)
        self.step = 0

        memory_format = torch.channels_last if train_config.channels_last else torch.contiguous_format
        for net in (self.generator, self.discriminator):
            net.to(self.device, memory_format=memory_format)
        self.memory_format = memory_format
        betas = (train_config.beta1, train_config.beta2)
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=train_config.lr_g, betas=betas)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=train_config.lr_d, betas=betas)
        self.use_amp = train_config.amp and self.device.type == "cuda"
        # With ema > 0 a moving average of G's weights draws the samples and is the published model:
        # it smooths out the step-to-step wobble of GAN training (Karras et al. 2018, Yazici et al. 2019).
        self.ema_generator = copy.deepcopy(self.generator).eval() if train_config.ema > 0 else None

        if _state is not None:
            self._restore(_state)
        self._running = threading.Event()
        self._running.set()
        self._stop_requested = threading.Event()

    # ---- construction helpers -------------------------------------------------------------

    @classmethod
    def from_run(
        cls,
        run_dir: str | Path,
        epochs: int | None = None,
        steps: int | None = None,
        dataset: ImageDataset | None = None,
    ) -> Trainer:
        """Resume a run from its last checkpoint; `epochs`/`steps` raise the total to train to."""
        run_dir = Path(run_dir)
        if not (run_dir / STATE_FILE).is_file():
            raise DcganError(f"{run_dir} has no {STATE_FILE}: nothing to resume (was it a training run?)")
        run_config = RunConfig.load(run_dir / CONFIG_FILE)
        if run_config.train is None:
            raise DcganError(f"{run_dir / CONFIG_FILE} has no training section: it is a published model, not a run")
        train_config = run_config.train
        if epochs is not None or steps is not None:
            train_config.epochs, train_config.steps = epochs, steps
        state = load_train_state(run_dir / STATE_FILE)
        return cls(run_config.model, train_config, run_dir, dataset=dataset, _state=state)

    def _check_dataset(self) -> None:
        images = self.dataset.images
        expected = (self.model_config.nc, self.model_config.image_size, self.model_config.image_size)
        if tuple(images.shape[1:]) != expected:
            raise DcganError(f"the data's images are {tuple(images.shape[1:])}, the model makes {expected}")
        if len(self.dataset) < self.config.batch_size:
            raise DcganError(
                f"the data has {len(self.dataset)} images, fewer than one batch of {self.config.batch_size}: "
                "lower --batch-size or add images"
            )

    def _total_steps(self) -> int:
        if self.config.steps is not None:
            return self.config.steps
        if self.config.epochs is not None:
            return self.config.epochs * self.steps_per_epoch
        raise DcganError("say how long to train: --epochs N or --steps N")

    def _restore(self, state: TrainState) -> None:
        from .checkpoints import load_state_strict

        load_state_strict(self.generator, state.generator, self.run_dir / STATE_FILE)
        load_state_strict(self.discriminator, state.discriminator, self.run_dir / STATE_FILE)
        self.optimizer_g.load_state_dict(state.optimizer_g)
        self.optimizer_d.load_state_dict(state.optimizer_d)
        if self.ema_generator is not None:
            load_state_strict(self.ema_generator, state.ema_generator or state.generator, self.run_dir / STATE_FILE)
        self.noise_rng.set_state(state.rng["noise"])
        self.augment_rng.set_state(state.rng["augment"])
        self.dropout_rng_state = state.rng["dropout"]
        self.fixed_noise = state.fixed_noise
        self.step = state.step

    # ---- control from other threads -------------------------------------------------------

    def pause(self) -> None:
        self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """Finish the current step, checkpoint, and end the loop with a 'stopped' event."""
        self._stop_requested.set()
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> None:
        self._running.wait()

    # ---- the GAN step ---------------------------------------------------------------------

    def _batch(self, step: int) -> torch.Tensor:
        """Batch for a global step. The epoch's order is a function of (seed, epoch), so a
        resumed run sees exactly the batches the uninterrupted run would have seen."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = torch.randperm(len(self.dataset), generator=cpu_generator(self.config.seed * 1_000_003 + epoch))
        batch_size = self.config.batch_size
        images = self.dataset.images[order[index * batch_size : (index + 1) * batch_size]]
        if self.config.augment:
            images = augment(images, self.augment_rng)
        return images.to(self.device, memory_format=self.memory_format, non_blocking=True)

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        """One D update then one G update (Goodfellow et al. Algorithm 1, k=1)."""
        batch_size = real.shape[0]
        z = sample_noise(batch_size, self.model_config.nz, self.model_config.noise, generator=self.noise_rng)
        z = z.to(self.device, non_blocking=True)
        real_target = torch.full((batch_size,), 1.0 - self.config.label_smoothing, device=self.device)
        fake_target = torch.zeros(batch_size, device=self.device)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp)

        with autocast:
            fake = self.generator(z)
            logits_real = self.discriminator(real)
            logits_fake = self.discriminator(fake.detach())
            loss_d = F.binary_cross_entropy_with_logits(
                logits_real.float(), real_target
            ) + F.binary_cross_entropy_with_logits(logits_fake.float(), fake_target)
        self.optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizer_d.step()

        with autocast:
            logits_gen = self.discriminator(fake).float()
            if self.config.g_loss == "nonsaturating":  # maximise log D(G(z)): strong gradients early on
                loss_g = F.binary_cross_entropy_with_logits(logits_gen, torch.ones_like(logits_gen))
            else:  # minimise log(1 - D(G(z))), the original minimax objective
                loss_g = -F.binary_cross_entropy_with_logits(logits_gen, torch.zeros_like(logits_gen))
        self.optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.optimizer_g.step()
        if self.ema_generator is not None:
            self._update_ema()

        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(logits_real.float()).mean().item(),
            "d_fake": torch.sigmoid(logits_fake.float()).mean().item(),
        }

    @torch.no_grad()
    def _update_ema(self) -> None:
        """ema <- decay * ema + (1 - decay) * G; a shorter memory early on, when G changes fastest."""
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        ema_params, params = list(self.ema_generator.parameters()), list(self.generator.parameters())
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        for ema_buffer, buffer in zip(self.ema_generator.buffers(), self.generator.buffers(), strict=True):
            ema_buffer.copy_(buffer)  # BN running statistics: G's own

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that draws samples and is published: the moving average when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    # ---- the loop ---------------------------------------------------------------------------

    def run(self) -> Iterator[TrainEvent]:
        """Train to total_steps, yielding events; ends with done, stopped or diverged."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(self.run_dir)
        RunConfig(self.model_config, self.config).save(self.run_dir / CONFIG_FILE)
        elapsed = self._truncate_metrics()  # training seconds so far, carried across resumes
        self.generator.train()
        self.discriminator.train()
        step_times: list[float] = []
        last_checkpoint = self.step if (self.run_dir / STATE_FILE).exists() else -1

        with torch.random.fork_rng(devices=[]), open(self.run_dir / METRICS_FILE, "a") as metrics_file:
            torch.set_rng_state(self.dropout_rng_state)  # dropout draws from the global RNG
            while self.step < self.total_steps:
                if self._stop_requested.is_set():
                    break
                if self.paused:
                    yield self._event("paused", message="paused")
                    self.wait_while_paused()
                    continue
                started = time.perf_counter()
                metrics = self.train_step(self._batch(self.step))
                self.step += 1
                step_times = (step_times + [time.perf_counter() - started])[-20:]
                elapsed += step_times[-1]
                seconds_per_step = sum(step_times) / len(step_times)
                metrics["images_per_s"] = self.config.batch_size / seconds_per_step
                metrics["eta_s"] = (self.total_steps - self.step) * seconds_per_step
                metrics["elapsed_s"] = elapsed
                problem = self._divergence(metrics)
                if problem:
                    yield self._event("diverged", metrics, message=problem)
                    return
                metrics_file.write(json.dumps({"step": self.step, "epoch": self._epoch()} | metrics) + "\n")
                yield self._event("step", metrics)

                if self.step % self.config.sample_every == 0:
                    yield self._sample_event()
                if self.step % self.steps_per_epoch == 0:
                    yield self._epoch_event()
                if self.step % self.config.checkpoint_every == 0:
                    metrics_file.flush()
                    event = self._checkpoint()
                    yield event
                    if event.kind == "diverged":
                        return
                    last_checkpoint = self.step
            stopped = self.step < self.total_steps
            if self.step != last_checkpoint:
                metrics_file.flush()
                event = self._checkpoint()
                yield event
                if event.kind == "diverged":
                    return
        gif = self._progress_gif()
        if stopped:
            yield self._event("stopped", path=gif, message=f"stopped at step {self.step}; resume with --resume")
        else:
            yield self._event("done", path=gif, message=f"finished {self.step} steps")

    def _epoch(self) -> int:
        return self.step // self.steps_per_epoch

    def _event(self, kind: str, metrics: dict | None = None, **extra) -> TrainEvent:
        return TrainEvent(kind, self.step, self.total_steps, self._epoch(), metrics or {}, **extra)

    def _divergence(self, metrics: dict[str, float]) -> str:
        for name in ("loss_d", "loss_g"):
            value = metrics[name]
            if not math.isfinite(value) or abs(value) > self.config.max_loss:
                return (
                    f"training diverged at step {self.step}: {name} = {value:.4g}. The last good checkpoint "
                    "is kept; try a lower learning rate, label smoothing, or resume from it."
                )
        return ""

    @torch.inference_mode()
    @torch.no_grad()
    def sample_images(self) -> torch.Tensor:
        """The fixed-noise images from G (or its moving average) in eval mode (BN running statistics), on the CPU."""
        sampler = self.sampler
        sampler.eval()
        images = sampler(self.fixed_noise.to(self.device)).float().cpu()
        self.generator.train()
        return images

    def sample_grid(self) -> np.ndarray:
        """The fixed-noise grid as uint8 (H, W, C)."""
        return make_grid(self.sample_images())

    def _sample_event(self) -> TrainEvent:
        images = self.sample_images()
        grid = make_grid(images)
        path = save_png(to_pil(grid), self.run_dir / "samples" / f"step_{self.step:07d}.png", {"step": str(self.step)})
        return self._event("sample", grid=grid, images=images, path=path)

    def _epoch_event(self) -> TrainEvent:
        path = self.run_dir / "samples" / f"epoch_{self._epoch():03d}.png"
        save_png(to_pil(self.sample_grid()), path, {"step": str(self.step)})
        return self._event("epoch", path=path, message=f"epoch {self._epoch()} done")

    def _checkpoint(self) -> TrainEvent:
        """Write the published G and D, then the full state; each file atomically."""
        for net in (self.sampler, self.generator, self.discriminator):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                return self._event(
                    "diverged", message=f"non-finite weights at step {self.step}; last good checkpoint kept"
                )
        self.dropout_rng_state = torch.get_rng_state()
        state = TrainState(
            step=self.step,
            generator=self.generator.state_dict(),
            discriminator=self.discriminator.state_dict(),
            optimizer_g=self.optimizer_g.state_dict(),
            optimizer_d=self.optimizer_d.state_dict(),
            rng={
                "noise": self.noise_rng.get_state(),
                "augment": self.augment_rng.get_state(),
                "dropout": self.dropout_rng_state,
            },
            fixed_noise=self.fixed_noise,
            ema_generator=self.ema_generator.state_dict() if self.ema_generator is not None else None,
        )
        # The published G and D first: a run with a training state is always a loadable model folder.
        save_tensors(self.run_dir / GENERATOR_FILE, self.sampler.state_dict())
        save_tensors(self.run_dir / DISCRIMINATOR_FILE, self.discriminator.state_dict())
        save_train_state(self.run_dir / STATE_FILE, state)
        return self._event("checkpoint", path=self.run_dir / STATE_FILE)

    def _truncate_metrics(self) -> float:
        """Drop metric lines past the checkpoint we resume from (a killed run logged them);
        return the training time recorded up to that checkpoint."""
        path = self.run_dir / METRICS_FILE
        if not path.exists():
            return 0.0
        kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [record for record in kept if record["step"] <= self.step]
        path.write_text("".join(json.dumps(record) + "\n" for record in kept))
        return kept[-1].get("elapsed_s", 0.0) if kept else 0.0

    def _progress_gif(self) -> Path | None:
        frames = sorted((self.run_dir / "samples").glob("step_*.png"))
        if not frames:
            return None
        stride = max(1, math.ceil(len(frames) / MAX_GIF_FRAMES))
        chosen = frames[::stride]
        if chosen[-1] != frames[-1]:
            chosen.append(frames[-1])
        images = [Image.open(frame).convert("RGB") for frame in chosen]
        return save_gif(images, self.run_dir / PROGRESS_GIF, frame_ms=150)
