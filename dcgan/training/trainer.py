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
import importlib.util
import math
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from dcgan.data.dataset import ImageDataset
from dcgan.data.loading import augment, load_dataset
from dcgan.device import configure, pick_device, set_threads
from dcgan.errors import DcganError
from dcgan.images import make_grid
from dcgan.nets.batchnorm_stats import measure_batchnorm_statistics
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig, knobs
from dcgan.nets.latent import cpu_generator, sample_noise
from dcgan.nets.models import Discriminator, Generator
from dcgan.store.model_files import CONFIG_FILE, load_state_strict
from dcgan.training import diffaugment, distributed
from dcgan.training.distributed import Distributed
from dcgan.training.run_writer import METRICS_FILE, PROGRESS_GIF, RunWriter
from dcgan.training.state import STATE_FILE, TrainState, load_train_state

__all__ = ["METRICS_FILE", "PROGRESS_GIF", "TrainEvent", "Trainer"]


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


def _check_compiler(device: torch.device) -> None:
    """torch.compile fails at the first step, deep in a traceback, without its code generator's toolchain:
    a C++ compiler for CPU kernels, Triton for GPU kernels. Say so before training starts."""
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        raise DcganError("--compile on a GPU needs Triton (pip install triton); or train without --compile")
    compilers = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if device.type == "cpu" and not any(shutil.which(name) for name in compilers if name):
        raise DcganError(
            "--compile on the CPU needs a C++ compiler (g++ or clang++; Debian: apt install g++); "
            "or train without --compile"
        )


class Trainer:
    """Trains a DCGAN into `run_dir`. Use `Trainer(...)` for a new run, `Trainer.from_run(dir)` to resume.

    `place`: this process's rank in a torchrun job (dcgan.distributed.start()); None trains in this
    process alone. `write=False` trains without touching the disk (benches); otherwise the main
    process writes the run directory and the other ranks write nothing.
    """

    def __init__(
        self,
        model_config: ModelConfig,
        train_config: TrainConfig,
        run_dir: str | Path,
        dataset: ImageDataset | None = None,
        _state: TrainState | None = None,
        place: Distributed | None = None,
        write: bool = True,
    ):
        self.model_config, self.config = model_config, train_config
        self.run_dir = Path(run_dir)
        self.place = place
        self.per_rank_batch = distributed.check_batch(train_config.batch_size, place)
        self.writer = RunWriter(run_dir) if write and (place is None or place.is_main) else None
        self.device = pick_device(distributed.device_for(place, train_config.device))
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
        self.d_augment_rng = cpu_generator(seed + 4)  # DiffAugment's draws
        self.dropout_rng_state = cpu_generator(seed + 3).get_state()  # D's dropout (global RNG)
        self.fixed_noise = sample_noise(train_config.n_fixed, model_config.nz, model_config.noise, seed=seed)
        self.step = 0

        # With ema > 0 a moving average of G's weights draws the samples and is the published model:
        # it smooths out the step-to-step wobble of GAN training (Karras et al. 2018, Yazici et al. 2019).
        # Copied before --sync-bn's conversion: measuring its statistics (`sampler`) stays in this process.
        self.ema_generator = copy.deepcopy(self.generator).eval() if train_config.ema > 0 else None
        self._ema_measured_at = -1  # the step the EMA's BatchNorm statistics were last measured at
        if place is not None and train_config.sync_bn:
            # Before the moves and the optimisers: both see the converted layers.
            self.generator = distributed.sync_batchnorm(self.generator, self.device)
            self.discriminator = distributed.sync_batchnorm(self.discriminator, self.device)
        memory_format = torch.channels_last if train_config.channels_last else torch.contiguous_format
        for net in (self.generator, self.discriminator, self.ema_generator):
            if net is not None:
                net.to(self.device, memory_format=memory_format)
        self.memory_format = memory_format
        betas = (train_config.beta1, train_config.beta2)
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=train_config.lr_g, betas=betas)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=train_config.lr_d, betas=betas)
        self.use_amp = train_config.amp and self.device.type == "cuda"

        if _state is not None:
            self._restore(_state)
        # What the steps train through: the nets themselves, or DDP wrappers that average gradients over
        # ranks. DDP broadcasts rank 0's weights at wrapping, so every rank starts from the same nets.
        self.train_generator: torch.nn.Module = self.generator
        self.train_discriminator: torch.nn.Module = self.discriminator
        if place is not None:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_generator = DistributedDataParallel(self.generator, device_ids=device_ids)
            self.train_discriminator = DistributedDataParallel(self.discriminator, device_ids=device_ids)
        if train_config.compile:
            _check_compiler(self.device)
            # G: a compiled wrapper (over DDP's, whose forward dynamo steps over to compile G's); the plain
            # self.generator keeps drawing samples in eval mode without a second compile. D is compiled in
            # place (Module.compile): G's step calls self.discriminator directly, and in place its
            # state_dict keys and requires_grad_ stay those of the plain module.
            self.train_generator = torch.compile(self.train_generator)
            self.discriminator.compile()
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
        place: Distributed | None = None,
        **changes: Any,
    ) -> Trainer:
        """Resume a run from its last checkpoint; `epochs`/`steps` raise the total to train to.
        `changes` sets the TrainConfig fields a resume may change (`resume_override`: the learning rates,
        sync_bn, compile) from here on; None leaves the run's own."""
        run_dir = Path(run_dir)
        if not (run_dir / STATE_FILE).is_file():
            raise DcganError(f"{run_dir} has no {STATE_FILE}: nothing to resume (was it a training run?)")
        run_config = RunConfig.load(run_dir / CONFIG_FILE)
        if run_config.train is None:
            raise DcganError(f"{run_dir / CONFIG_FILE} has no training section: it is a published model, not a run")
        train_config = run_config.train
        if epochs is not None or steps is not None:
            train_config.epochs, train_config.steps = epochs, steps
        changeable = {knob.name for knob in knobs(TrainConfig) if knob.resume_override}
        if unknown := sorted(set(changes) - changeable):
            raise DcganError(f"a resumed run cannot change {', '.join(unknown)} (only {', '.join(sorted(changeable))})")
        train_config = replace(
            train_config, **{name: value for name, value in changes.items() if value is not None}
        )  # replace() validates the new values, as a new run's config is validated
        state = load_train_state(run_dir / STATE_FILE)
        return cls(run_config.model, train_config, run_dir, dataset=dataset, _state=state, place=place)

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
        load_state_strict(self.generator, state.generator, self.run_dir / STATE_FILE)
        load_state_strict(self.discriminator, state.discriminator, self.run_dir / STATE_FILE)
        self.optimizer_g.load_state_dict(state.optimizer_g)
        self.optimizer_d.load_state_dict(state.optimizer_d)
        # The config's rates, not the checkpoint's: equal unless the resume changed them (a finishing phase).
        for optimizer, lr in ((self.optimizer_g, self.config.lr_g), (self.optimizer_d, self.config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = lr
        if self.ema_generator is not None:
            load_state_strict(self.ema_generator, state.ema_generator or state.generator, self.run_dir / STATE_FILE)
        self.noise_rng.set_state(state.rng["noise"])
        self.augment_rng.set_state(state.rng["augment"])
        if "d_augment" in state.rng:  # runs from before DiffAugment have none (and do not use it)
            self.d_augment_rng.set_state(state.rng["d_augment"])
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
        """This process's real images for a global step. The epoch's order is a function of (seed, epoch),
        so a resumed run sees exactly the batches the uninterrupted run would have seen; the global batch
        is drawn (and augmented) whole on every rank, then sliced, so the images a step trains on do not
        depend on how many processes share it."""
        epoch, index = divmod(step, self.steps_per_epoch)
        order = torch.randperm(len(self.dataset), generator=cpu_generator(self.config.seed * 1_000_003 + epoch))
        batch_size = self.config.batch_size
        images = self.dataset.images[order[index * batch_size : (index + 1) * batch_size]]
        if self.config.augment:
            images = augment(images, self.augment_rng)
        images = self.place.slice(images) if self.place else images
        return images.to(self.device, memory_format=self.memory_format, non_blocking=True)

    def _noise(self) -> torch.Tensor:
        """This process's z for the step: drawn for the global batch, then sliced, like the images."""
        z = sample_noise(
            self.config.batch_size, self.model_config.nz, self.model_config.noise, generator=self.noise_rng
        )
        return (self.place.slice(z) if self.place else z).to(self.device, non_blocking=True)

    def _d_augment(self, images: torch.Tensor) -> torch.Tensor:
        """The images as D sees them: changed by DiffAugment when the run uses it. Its randomness is drawn
        for the global batch and sliced, like the data."""
        if self.config.d_augment == "off":
            return images
        params = diffaugment.draw(
            self.config.d_augment, self.config.batch_size, self.model_config.image_size, self.d_augment_rng
        )
        if self.place is not None:
            params = {name: self.place.slice(values) for name, values in params.items()}
        return diffaugment.apply(images, params)

    def train_step(self, real: torch.Tensor) -> dict[str, float]:
        """One D update then one G update (Goodfellow et al. Algorithm 1, k=1), on this process's slice.

        Under DDP the gradients are averaged over ranks in each backward; the losses returned are this
        slice's (the loop averages them over ranks)."""
        batch_size = real.shape[0]
        z = self._noise()
        real_target = torch.full((batch_size,), 1.0 - self.config.label_smoothing, device=self.device)
        fake_target = torch.zeros(batch_size, device=self.device)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_amp)

        with autocast:
            fake = self.train_generator(z)
            real_seen = self._d_augment(real)
            if self.config.r1 > 0:  # the penalty differentiates D's output with respect to these pixels
                real_seen = real_seen.detach().requires_grad_(True)
            logits_real = self.train_discriminator(real_seen)
            logits_fake = self.train_discriminator(self._d_augment(fake.detach()))
            loss_d = F.binary_cross_entropy_with_logits(
                logits_real.float(), real_target
            ) + F.binary_cross_entropy_with_logits(logits_fake.float(), fake_target)
        if self.config.r1 > 0:
            loss_d = loss_d + self.config.r1 / 2 * r1_penalty(logits_real, real_seen)
        self.optimizer_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.optimizer_d.step()

        # G's step goes through D without D's DDP wrapper and with D's weights frozen: no gradient for D
        # is computed (its next step starts from zero anyway), so no rank waits on D's all-reduce here.
        self.discriminator.requires_grad_(False)
        with autocast:
            logits_gen = self.discriminator(self._d_augment(fake)).float()
            if self.config.g_loss == "nonsaturating":  # maximise log D(G(z)): strong gradients early on
                loss_g = F.binary_cross_entropy_with_logits(logits_gen, torch.ones_like(logits_gen))
            else:  # minimise log(1 - D(G(z))), the original minimax objective
                loss_g = -F.binary_cross_entropy_with_logits(logits_gen, torch.zeros_like(logits_gen))
        self.optimizer_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.discriminator.requires_grad_(True)
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

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that draws samples and is published: the moving average when there is one, with
        BatchNorm statistics measured on its own activations (G's would not fit its averaged weights)."""
        if self.ema_generator is None:
            return self.generator
        if self._ema_measured_at != self.step:
            measure_batchnorm_statistics(self.ema_generator)
            self._ema_measured_at = self.step
        return self.ema_generator

    # ---- the loop ---------------------------------------------------------------------------

    def run(self, until: int | None = None) -> Iterator[TrainEvent]:
        """Train to total_steps (or only up to step `until`: a chunk), yielding events; ends with done,
        stopped (a stop request, or `until` before the end) or diverged.

        Under torchrun every rank runs this loop in step: the losses, a divergence and a stop request
        are agreed on by all ranks each step, so all of them stop at the same step."""
        run_config = RunConfig(self.model_config, self.config)
        elapsed = self.writer.begin(run_config, self.step) if self.writer else 0.0  # seconds trained so far
        try:
            yield from self._loop(elapsed, min(self.total_steps, until) if until is not None else self.total_steps)
        finally:
            if self.writer:
                self.writer.close()  # also when the caller abandons the loop (chunks, errors)

    def _loop(self, elapsed: float, end: int) -> Iterator[TrainEvent]:
        self.generator.train()
        self.discriminator.train()
        step_times: list[float] = []
        last_checkpoint = self.step if (self.run_dir / STATE_FILE).exists() else -1

        with torch.random.fork_rng(devices=[]):
            torch.set_rng_state(self.dropout_rng_state)  # dropout draws from the global RNG
            while self.step < end:
                if self._agreed_stop():
                    break
                if self.paused:
                    yield self._event("paused", message="paused")
                    self.wait_while_paused()
                    continue
                started = time.perf_counter()
                metrics = self._agreed(self.train_step(self._batch(self.step)))
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
                    return self._finish()
                if self.writer:
                    self.writer.log({"step": self.step, "epoch": self._epoch()} | metrics)
                yield self._event("step", metrics)

                if self.step % self.config.sample_every == 0 and self.writer:
                    yield self._sample_event()
                if self.step % self.steps_per_epoch == 0 and self.writer:
                    yield self._epoch_event()
                if self.step % self.config.checkpoint_every == 0:
                    event = self._checkpoint()
                    yield event
                    if event.kind == "diverged":
                        return self._finish()
                    last_checkpoint = self.step
            stopped = self.step < self.total_steps
            # The run's last grid, when its last step drew none: a run shorter than sample_every, or one
            # stopped between grids, still leaves samples/ and a progress GIF. (Not at a chunk's end.)
            ended = not stopped or self.stop_requested
            if ended and self.writer and self.step > 0 and self.step % self.config.sample_every != 0:
                yield self._sample_event()
            if self.step != last_checkpoint:
                event = self._checkpoint()
                yield event
                if event.kind == "diverged":
                    return self._finish()
        gif = self._finish()
        if stopped:
            yield self._event("stopped", path=gif, message=f"stopped at step {self.step}; resume with --resume")
        else:
            yield self._event("done", path=gif, message=f"finished {self.step} steps")

    def _agreed(self, metrics: dict[str, float]) -> dict[str, float]:
        """The step's losses over the global batch: each rank's slice's, averaged over ranks."""
        if self.place is None:
            return metrics
        names = list(metrics)
        values = distributed.mean_across(torch.tensor([metrics[name] for name in names], dtype=torch.float64))
        return {name: float(value) for name, value in zip(names, values, strict=True)}

    def _agreed_stop(self) -> bool:
        """A stop asked of any rank (its Ctrl-C, SIGTERM from torchrun) stops them all, at this step."""
        if self.place is None:
            return self._stop_requested.is_set()
        return distributed.any_across(self._stop_requested.is_set(), torch.device("cpu"))

    def _finish(self) -> Path | None:
        """Close what the writer holds open; the progress GIF's path, if one was written."""
        return self.writer.finish() if self.writer else None

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
        grid, path = self.writer.grid(images, f"step_{self.step:07d}", self.step)
        return self._event("sample", grid=grid, images=images, path=path)

    def _epoch_event(self) -> TrainEvent:
        _, path = self.writer.grid(self.sample_images(), f"epoch_{self._epoch():03d}", self.step)
        return self._event("epoch", path=path, message=f"epoch {self._epoch()} done")

    def _checkpoint(self) -> TrainEvent:
        """The main process writes G, D and the full state (each file atomically); every rank checks the
        weights, which are the same on all of them, so all agree when they are not finite."""
        for net in (self.sampler, self.generator, self.discriminator):
            if not all(torch.isfinite(p).all() for p in net.parameters()):
                return self._event(
                    "diverged", message=f"non-finite weights at step {self.step}; last good checkpoint kept"
                )
        self.dropout_rng_state = torch.get_rng_state()
        if self.writer is None:
            return self._event("checkpoint")
        state = TrainState(
            step=self.step,
            generator=self.generator.state_dict(),
            discriminator=self.discriminator.state_dict(),
            optimizer_g=self.optimizer_g.state_dict(),
            optimizer_d=self.optimizer_d.state_dict(),
            rng={
                "noise": self.noise_rng.get_state(),
                "augment": self.augment_rng.get_state(),
                "d_augment": self.d_augment_rng.get_state(),
                "dropout": self.dropout_rng_state,
            },
            fixed_noise=self.fixed_noise,
            ema_generator=self.ema_generator.state_dict() if self.ema_generator is not None else None,
        )
        keep = self.config.keep_every > 0 and self.step % self.config.keep_every == 0
        return self._event("checkpoint", path=self.writer.checkpoint(self.sampler, self.discriminator, state, keep))


def r1_penalty(logits_real: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E ||dD(x)/dx||^2 over the real images x (Mescheder et al. 2018, eq. 9), kept differentiable so
    that D's step lowers it too."""
    (gradient,) = torch.autograd.grad(logits_real.float().sum(), real, create_graph=True)
    return gradient.float().square().flatten(1).sum(1).mean()
