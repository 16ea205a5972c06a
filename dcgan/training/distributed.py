"""Training in several processes with PyTorch's own engine: torchrun starts them, torch.distributed
connects them (NCCL on CUDA, Gloo on CPU), DistributedDataParallel averages the gradients.

    torchrun --standalone --nproc_per_node=2 -m dcgan train --data fashion-mnist --batch-size 64 ...

Not started by torchrun, nothing here is used and training is the single-process loop it always was.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn

from dcgan.errors import DcganError

# GlooSyncBatchNorm needs the autograd-aware all_reduce of torch.distributed.nn; torch 2.13 marks it
# deprecated in favour of functional collectives, which do not document a backward on this version.
warnings.filterwarnings("ignore", message="torch.distributed.nn.functional.all_reduce is deprecated")


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job. Rank 0 is the one that writes the run directory."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def slice(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's share of a global batch (N, ...): rows [rank * N/W, (rank + 1) * N/W)."""
        per_rank = batch.shape[0] // self.world_size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ


def start(device_type: str | None = None) -> Distributed | None:
    """Join the torchrun job this process belongs to (None when not launched by torchrun, or alone in it).

    The backend follows the device: NCCL when CUDA is there (each rank on cuda:LOCAL_RANK), Gloo on CPU.
    """
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) < 2:
        return None
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = (device_type or ("cuda" if torch.cuda.is_available() else "cpu")) == "cuda"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size(), local_rank)


def stop() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def leave(code: int) -> NoReturn:
    """End a rank's process now, after stop(). Gloo's threads can abort the interpreter's own shutdown
    ("terminate called without an active exception", SIGABRT; about 1 rank in 6 on this CPU, after the run is
    done and saved), so a rank that finished flushes its output and exits without that shutdown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def device_for(place: Distributed | None, requested: str | None) -> str | None:
    """Each rank gets its own GPU (cuda:LOCAL_RANK); on the CPU every rank uses the CPU."""
    if place is None:
        return requested
    if (requested or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda"):
        return f"cuda:{place.local_rank}"
    return "cpu"


def check_batch(batch_size: int, place: Distributed | None) -> int:
    """The per-rank batch: the global batch must split evenly, so that a recipe means the same at any world size."""
    world = place.world_size if place else 1
    if batch_size % world:
        raise DcganError(
            f"--batch-size {batch_size} is the global batch: it must divide evenly among the {world} processes "
            f"(e.g. {batch_size - batch_size % world or world})"
        )
    return batch_size // world


def mean_across(values: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of a small tensor (metrics), identical on every rank afterwards."""
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / dist.get_world_size()


def any_across(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on any rank (a stop request, a signal)."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


# ---- BatchNorm over the global batch ----------------------------------------------------------------------


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose batch statistics are those of every rank's slice together, on the CPU.

    torch.nn.SyncBatchNorm runs on GPUs only. This computes the same thing with torch.distributed's
    differentiable all_reduce: per-channel sums of x and x^2 and the count, summed over ranks, so the
    gradients flow across ranks exactly as the one-process BatchNorm's do over the whole batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        # Autograd-aware collectives; lazy: only multi-process training reaches here, and torch builds
        # without distributed support may not import it.
        from torch.distributed.nn.functional import all_reduce

        channels = x.shape[1]
        count = torch.tensor([x.numel() / channels], dtype=x.dtype)
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        total = all_reduce(local, op=dist.ReduceOp.SUM)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels : 2 * channels] / n - mean * mean).clamp_min(0)  # biased, as BN normalises
        with torch.no_grad():
            self.num_batches_tracked += 1
            momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
            self.running_mean.lerp_(mean.detach(), momentum)
            self.running_var.lerp_(var.detach() * n / (n - 1), momentum)  # unbiased, as BatchNorm2d keeps it
        shape = (1, channels, 1, 1)
        normalised = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.weight is None:
            return normalised
        return normalised * self.weight.view(shape) + self.bias.view(shape)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm2d computes its statistics over the global batch: torch's SyncBatchNorm on GPUs,
    GlooSyncBatchNorm on the CPU. Same parameters and buffers, so checkpoints do not change."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            replacement = GlooSyncBatchNorm(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            replacement.load_state_dict(child.state_dict())
            setattr(module, name, replacement)
        else:
            sync_batchnorm(child, device)
    return module
