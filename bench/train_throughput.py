"""Training throughput: our Trainer vs. the plain pytorch/examples loop, side by side in one run.

    python bench/train_throughput.py                 # both sizes, 5 rounds each
    python bench/train_throughput.py --rounds 3 --steps 30
    python bench/train_throughput.py --compile       # ours eager vs ours with --compile instead

For 32x32x1 and 64x64x3 (same architecture and widths, ngf = ndf = 64, batch 64 for both), the
two loops run in alternation (A, B, A, B, ...) so that a noisy shared machine hurts both alike;
each round times `--steps` steps after `--warmup` steps. Prints images/s (median and range),
the ratio ours/plain, the FLOPs of one training image (forward + backward of both nets, counted
by torch's FlopCounterMode) and the achieved GFLOP/s against this machine's measured ceiling
(a large fp32 matmul and a DCGAN-sized conv, measured in the same run).

With --compile the pair is our Trainer without and with TrainConfig.compile (torch.compile), and the
compile time is reported apart from the steady-state images/s: the first round compiles with an empty
inductor cache (what a fresh machine pays), later rounds with the cache the first one filled (what a
second run with the same shapes pays). "Pays after N steps" is where the two runs' total times cross.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plain_dcgan import PlainDiscriminator, PlainGenerator, train_plain  # noqa: E402

from dcgan.data.dataset import ImageDataset  # noqa: E402
from dcgan.device import set_threads  # noqa: E402
from dcgan.nets.config import ModelConfig, TrainConfig  # noqa: E402
from dcgan.training.trainer import Trainer  # noqa: E402

BATCH = 64


def random_pixels(n: int, size: int, nc: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (n, size, size) if nc == 1 else (n, size, size, 3)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def plain_images_per_s(pixels: np.ndarray, size: int, nc: int, steps: int, warmup: int) -> float:
    sizes = {"image_size": size, "nc": nc, "batch_size": BATCH, "workers": 2}
    _, _, _, log = train_plain(pixels, warmup + steps, log_every=1, verbose=False, **sizes)
    seconds = log[-1]["seconds"] - log[warmup - 1]["seconds"]
    return steps * BATCH / seconds


def ours_images_per_s(pixels: np.ndarray, size: int, nc: int, steps: int, warmup: int) -> float:
    return ours_timed(pixels, size, nc, steps, warmup)[0]


def ours_timed(
    pixels: np.ndarray, size: int, nc: int, steps: int, warmup: int, compile: bool = False
) -> tuple[float, float]:
    """(images/s over the timed steps, setup seconds): setup is the time from building the Trainer to
    the end of warm-up beyond what the warm-up steps take at steady speed; with compile, mostly compiling."""
    images = torch.from_numpy(pixels).float().div(127.5).sub(1)
    images = images[:, None] if nc == 1 else images.permute(0, 3, 1, 2)
    dataset = ImageDataset(images.contiguous(), None, None, "random")
    model = ModelConfig(image_size=size, nc=nc, ngf=64, ndf=64)
    train = TrainConfig(
        data="random",
        steps=warmup + steps,
        batch_size=BATCH,
        sample_every=10**9,
        checkpoint_every=10**9,
        compile=compile,
    )
    torch._dynamo.reset()  # each round traces afresh, as a new process would (and stays under the recompile limit)
    times = {}
    with tempfile.TemporaryDirectory() as run_dir:
        started = time.perf_counter()
        for event in Trainer(model, train, run_dir, dataset=dataset, write=False).run():
            if event.kind == "step" and event.step in (warmup, warmup + steps):
                times[event.step] = time.perf_counter()
    seconds_per_step = (times[warmup + steps] - times[warmup]) / steps
    setup = times[warmup] - started - warmup * seconds_per_step
    return BATCH / seconds_per_step, setup


def flops_per_image(size: int, nc: int) -> float:
    """FLOPs of one training step per image: D on real and fake, G forward, and every backward."""
    generator, discriminator = PlainGenerator(100, 64, nc, size), PlainDiscriminator(64, nc, size)
    z, real = torch.randn(BATCH, 100, 1, 1), torch.randn(BATCH, nc, size, size)
    counter = FlopCounterMode(display=False)
    with counter:
        fake = generator(z)
        (discriminator(real).mean() + discriminator(fake.detach()).mean()).backward()
        discriminator(fake).mean().backward()
    return counter.get_total_flops() / BATCH


def ceiling_gflops() -> dict[str, float]:
    """Best-of-5 GFLOP/s of a 2048^2 fp32 matmul and of a 64x64 conv layer like D's second one."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    x, w = torch.randn(64, 64, 32, 32), torch.randn(128, 64, 4, 4)
    results = {}
    for name, fn, flops in (
        ("matmul 2048^2", lambda: a @ b, 2 * 2048**3),
        (
            "conv 64->128, 4x4 s2, 32px, batch 64",
            lambda: torch.nn.functional.conv2d(x, w, stride=2, padding=1),
            2 * 64 * 128 * 16 * 64 * 16 * 16,
        ),
    ):
        fn()
        best = min(_timed(fn) for _ in range(5))
        results[name] = flops / best / 1e9
    return results


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def compare_compile(sizes: str, rounds: int, steps: int, warmup: int) -> None:
    """Ours eager vs ours compiled, alternating; compile time apart from steady-state speed."""
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-inductor-")  # round 1 compiles cold
    rows = []
    for spec in sizes.split(","):
        size, nc = (int(part) for part in spec.split("x"))
        pixels = random_pixels(2048, size, nc)
        eager, compiled = [], []  # (images/s, setup seconds) per round
        for _ in range(rounds):
            eager.append(ours_timed(pixels, size, nc, steps, warmup))
            compiled.append(ours_timed(pixels, size, nc, steps, warmup, compile=True))
            print(
                f"  {size}x{size}x{nc}: eager {eager[-1][0]:.0f} img/s (setup {eager[-1][1]:.1f} s), "
                f"compiled {compiled[-1][0]:.0f} img/s (setup {compiled[-1][1]:.1f} s)",
                flush=True,
            )
        rows.append((f"{size}x{size}x{nc}", eager, compiled))
    print(
        "\n| images | eager img/s | compiled img/s | compiled / eager | compile s: cold, warm cache "
        "| pays after N steps: cold, warm |"
    )
    print("|---|---|---|---|---|---|")
    for name, eager, compiled in rows:
        eager_speed = [speed for speed, _ in eager]
        compiled_speed = [speed for speed, _ in compiled]
        ratios = [c / e for c, e in zip(compiled_speed, eager_speed, strict=True)]
        eager_setup = statistics.median(setup for _, setup in eager)
        cold = compiled[0][1] - eager_setup
        warm = statistics.median(setup for _, setup in compiled[1:]) - eager_setup if rounds > 1 else float("nan")
        saved_per_step = BATCH / statistics.median(eager_speed) - BATCH / statistics.median(compiled_speed)
        pays = [f"{extra / saved_per_step:.0f}" if saved_per_step > 0 else "never" for extra in (cold, warm)]
        print(
            f"| {name} | {statistics.median(eager_speed):.0f} ({min(eager_speed):.0f}-{max(eager_speed):.0f}) "
            f"| {statistics.median(compiled_speed):.0f} ({min(compiled_speed):.0f}-{max(compiled_speed):.0f}) "
            f"| {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) "
            f"| {cold:.0f}, {warm:.0f} | {pays[0]}, {pays[1]} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--sizes", default="32x1,64x3", help="comma-separated SIZExCHANNELS")
    parser.add_argument("--compile", action="store_true", help="compare ours eager vs ours with torch.compile")
    args = parser.parse_args(argv)
    threads = set_threads()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())  # other work on the machine skews both loops
    print(
        f"torch {torch.__version__}, {threads} threads, batch {BATCH}, {args.rounds} x {args.steps} steps; load {load}"
    )
    if args.compile:
        compare_compile(args.sizes, args.rounds, args.steps, args.warmup)
        return 0
    ceilings = ceiling_gflops()
    for name, value in ceilings.items():
        print(f"ceiling: {name}: {value:.1f} GFLOP/s")
    ceiling = max(ceilings.values())
    rows = []
    for spec in args.sizes.split(","):
        size, nc = (int(part) for part in spec.split("x"))
        pixels = random_pixels(2048, size, nc)
        plain, ours = [], []
        for _ in range(args.rounds):
            plain.append(plain_images_per_s(pixels, size, nc, args.steps, args.warmup))
            ours.append(ours_images_per_s(pixels, size, nc, args.steps, args.warmup))
            print(f"  {size}x{size}x{nc}: plain {plain[-1]:.0f} img/s, ours {ours[-1]:.0f} img/s", flush=True)
        flops = flops_per_image(size, nc)
        ratios = [o / p for o, p in zip(ours, plain, strict=True)]
        rows.append((f"{size}x{size}x{nc}", plain, ours, ratios, flops))
    print("\n| images | plain loop img/s | ours img/s | ours / plain | GFLOP per image | ours GFLOP/s (% of ceiling) |")
    print("|---|---|---|---|---|---|")
    for name, plain, ours, ratios, flops in rows:
        achieved = statistics.median(ours) * flops / 1e9
        print(
            f"| {name} | {statistics.median(plain):.0f} ({min(plain):.0f}-{max(plain):.0f}) "
            f"| {statistics.median(ours):.0f} ({min(ours):.0f}-{max(ours):.0f}) "
            f"| {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) "
            f"| {flops / 1e9:.3f} | {achieved:.1f} ({100 * achieved / ceiling:.0f}%) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
