"""DDP on this machine: 1 process x 2 threads vs 2 processes x 1 thread (torchrun, Gloo), side by side.

    python bench/ddp_scaling.py                        # 32x32x1 and 64x64x3, 3 rounds each
    python bench/ddp_scaling.py --rounds 5 --sizes 32

Both arms are real CLI runs at the same global batch:

    OMP_NUM_THREADS=2 python -m dcgan train --data D --limit L --batch-size 64 --steps N --out RUN
    OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=2 -m dcgan train (same flags)

alternating (A, B, A, B, ...) so that a noisy shared machine hurts both alike. Training images/s come
from each run's metrics.jsonl: the training seconds it logs (elapsed_s) between step --skip and the
last step, so start-up, data loading and the first slow steps are left out. Also printed: the bytes
DDP all-reduces per step (G's gradients once and D's once: parameters x 4 bytes), the same all-reduce
timed alone under torchrun with Gloo, and the compute per step (FLOPs of one training step, counted
by torch's FlopCounterMode on our nets, times the global batch).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dcgan.nets.config import ModelConfig  # noqa: E402
from dcgan.nets.models import Discriminator, Generator  # noqa: E402

BATCH = 64  # global batch: 32 images per rank with two processes
# size -> (data, channels, --limit, steps, steps skipped as warm-up); steps fit in one epoch of the limit
SETUPS = {32: ("fashion-mnist", 1, 4096, 60, 10), 64: ("emoji", 3, 2048, 25, 5)}


def train_command(size: int, run_dir: Path, processes: int) -> list[str]:
    data, _, limit, steps, _ = SETUPS[size]
    flags = f"--data {data} --image-size {size} --limit {limit} --batch-size {BATCH} --steps {steps}"
    flags += f" --sample-every 100000 --checkpoint-every 100000 --out {run_dir}"
    launcher = [sys.executable, "-m", "dcgan"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
        launcher += ["-m", "dcgan"]
    return launcher + ["train"] + flags.split()


def images_per_s(size: int, processes: int) -> float:
    """One real run; images/s over the steps after warm-up, from the training seconds it logged."""
    *_, skip = SETUPS[size]
    threads = 2 // processes  # the machine's two cores, as threads or as processes
    env = os.environ | {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch) / "run"
        subprocess.run(train_command(size, run_dir, processes), env=env, check=True, capture_output=True)
        lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = lines[skip:]
    seconds = timed[-1]["elapsed_s"] - lines[skip - 1]["elapsed_s"]
    return len(timed) * BATCH / seconds


def model_config(size: int, width: int = 64) -> ModelConfig:
    return ModelConfig(image_size=size, nc=SETUPS[size][1], ngf=width, ndf=width)


def gradient_elements(config: ModelConfig) -> tuple[int, int]:
    """(G's, D's) trainable parameters: what DDP all-reduces each step, once per net."""
    generator, discriminator = Generator(config), Discriminator(config)
    return tuple(sum(p.numel() for p in net.parameters() if p.requires_grad) for net in (generator, discriminator))


def training_flops_per_image(config: ModelConfig) -> float:
    """FLOPs of one image's share of a training step, as Trainer.train_step runs it: G forward, D on real and
    fake with backward (D's step), then D on the fake again with D frozen and backward into G (G's step)."""
    generator, discriminator = Generator(config), Discriminator(config)
    z, real = torch.randn(8, config.nz), torch.randn(8, config.nc, config.image_size, config.image_size)
    counter = FlopCounterMode(display=False)
    with counter:
        fake = generator(z)
        loss_d = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake.detach())).mean()
        loss_d.backward()
        discriminator.requires_grad_(False)
        F.softplus(-discriminator(fake)).mean().backward()
    return counter.get_total_flops() / 8


def probe_allreduce(elements: list[int], repeats: int = 20) -> None:
    """Under torchrun: time all_reduce of float32 tensors of these sizes (G's and D's gradients) with Gloo;
    rank 0 prints the median seconds per step as JSON."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    tensors = [torch.ones(n) for n in elements]
    times = []
    for _ in range(repeats + 3):
        dist.barrier()
        started = time.perf_counter()
        for tensor in tensors:
            dist.all_reduce(tensor)
        times.append(time.perf_counter() - started)
    if dist.get_rank() == 0:
        print(json.dumps({"seconds": statistics.median(times[3:])}))
    dist.destroy_process_group()


def measured_allreduce_s(elements: tuple[int, int]) -> float:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__]
    command += ["--probe-allreduce", ",".join(str(n) for n in elements)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])["seconds"]


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", default="32,64", help="comma-separated image sizes (32: Fashion-MNIST, 64: emoji)")
    parser.add_argument("--probe-allreduce", help=argparse.SUPPRESS)  # internal: the all-reduce timing under torchrun
    args = parser.parse_args(argv)
    if args.probe_allreduce:
        probe_allreduce([int(n) for n in args.probe_allreduce.split(",")])
        return 0
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, global batch {BATCH}, {args.rounds} rounds; load {load}")
    rows = []
    for size in (int(part) for part in args.sizes.split(",")):
        data, _, limit, steps, skip = SETUPS[size]
        print(f"{size}x{size}: {' '.join(train_command(size, Path('RUN'), 2)[1:])}", flush=True)
        threads, processes = [], []
        for _ in range(args.rounds):
            threads.append(images_per_s(size, processes=1))
            processes.append(images_per_s(size, processes=2))
            load = os.getloadavg()[0]  # the machine is shared: other work hurts two threads more than two processes
            print(
                f"  1 x 2 threads {threads[-1]:.0f} img/s, 2 x 1 thread {processes[-1]:.0f} img/s; load {load:.1f}",
                flush=True,
            )
        config = model_config(size)
        elements = gradient_elements(config)
        rows.append((size, config, threads, processes, elements, measured_allreduce_s(elements)))

    print(
        "\n| images (ngf = ndf = 64) | 1 process x 2 threads img/s | 2 processes x 1 thread img/s | ratio "
        "| all-reduced per step (G + D) | all-reduce alone, Gloo | GFLOP per step | achieved GFLOP/s (1 x 2, 2 x 1) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size, config, threads, processes, elements, allreduce_s in rows:
        ratios = [p / t for p, t in zip(processes, threads, strict=True)]
        step_flops = training_flops_per_image(config) * BATCH
        megabytes = [4 * n / 1e6 for n in elements]
        print(
            f"| {size}x{size}x{config.nc} | {spread(threads)} | {spread(processes)} "
            f"| {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) "
            f"| {megabytes[0]:.1f} + {megabytes[1]:.1f} MB | {1000 * allreduce_s:.0f} ms "
            f"| {step_flops / 1e9:.0f} "
            f"| {statistics.median(threads) * step_flops / BATCH / 1e9:.0f}, "
            f"{statistics.median(processes) * step_flops / BATCH / 1e9:.0f} |"
        )
    print("\nOn paper (64x64x3, the paper's model): what a GPU job moves and computes per step")
    for width in (64, 128):
        config = ModelConfig(image_size=64, nc=3, ngf=width, ndf=width)
        g_elements, d_elements = gradient_elements(config)
        print(
            f"  ngf = ndf = {width}: G {g_elements / 1e6:.2f} M + D {d_elements / 1e6:.2f} M parameters = "
            f"{4 * (g_elements + d_elements) / 1e6:.1f} MB all-reduced per step; "
            f"{training_flops_per_image(config) / 1e9:.2f} GFLOP per training image"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
