"""Wall-clock to a fixed Fashion-MNIST FID: our default recipe vs. the plain pytorch/examples loop.

    python bench/time_to_quality.py --target-fid 30 --max-minutes 40
    python bench/time_to_quality.py --ours ema=0.999 --ours batch_size=64,lr_d=4e-4   # levers, raced too

All train 32x32 Fashion-MNIST generators (ngf = ndf = 64) on this machine, interleaved: each
contestant (a recipe and a seed, `--repeats` seeds per recipe) trains for `--turn` seconds in turn,
so all of them see the same machine (it is shared and its speed drifts; run nothing else
meanwhile). Every `--eval-every` seconds of *training* time each is measured: FID in the judge
classifier's feature space between `--n` samples and `--n` test images (smaller than `dcgan eval`'s
10,000, so the numbers run higher; all contestants are measured identically). Evaluation time is not
counted. Prints each curve (training seconds, step, FID), then per recipe the median training time at
which FID first reached the target with its spread over seeds, and the ratio plain / recipe.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plain_dcgan import fashion_mnist_pixels, plain_steps  # noqa: E402

from dcgan.data.loading import load_dataset  # noqa: E402
from dcgan.device import set_threads  # noqa: E402
from dcgan.nets.config import ModelConfig, TrainConfig  # noqa: E402
from dcgan.nets.latent import sample_noise  # noqa: E402
from dcgan.quality.distances import fid  # noqa: E402
from dcgan.quality.feature_spaces import JudgeFeatures, extract
from dcgan.training.trainer import Trainer  # noqa: E402


class Judge:
    """FID of a generator against a fixed set of test images, in the judge's feature space."""

    def __init__(self, n: int):
        self.extractor = JudgeFeatures.load()
        test = load_dataset("fashion-mnist", 32, split="test").images
        self.test_features, _ = extract(self.extractor, test[torch.randperm(len(test), generator=_rng())[:n]])
        self.z = sample_noise(n, 100, seed=1)

    @torch.inference_mode()
    def __call__(self, generator: torch.nn.Module, plain: bool) -> float:
        was_training = generator.training
        generator.eval()
        z = self.z[:, :, None, None] if plain else self.z
        images = torch.cat([generator(part) for part in z.split(500)]).float()
        generator.train(was_training)
        features, _ = extract(self.extractor, images)
        return fid(self.test_features, features)


def _rng() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@dataclass
class Contestant:
    recipe: str
    seed: int
    steps: Iterator  # of (step, generator): one training step each
    plain: bool
    curve: list = field(default_factory=list)  # [(train_seconds, step, fid), ...]
    trained: float = 0.0
    done: bool = False

    def reached(self, target: float) -> float | None:
        return next((seconds for seconds, _, score in self.curve if score <= target), None)


def race(contestants: list[Contestant], judge: Judge, target: float, eval_every: float, limit: float, turn: float):
    """Round robin: each contestant trains `turn` seconds, is measured whenever its own training clock
    passes the next multiple of `eval_every`, and stops at the target FID or at `limit` seconds."""
    while not all(c.done for c in contestants):
        for c in (c for c in contestants if not c.done):
            turn_ends = c.trained + turn
            while not c.done and c.trained < turn_ends:
                started = time.perf_counter()
                step, generator = next(c.steps)
                c.trained += time.perf_counter() - started
                if c.trained >= eval_every * (len(c.curve) + 1):
                    score = judge(generator, c.plain)
                    c.curve.append((c.trained, step, score))
                    where = f"{c.recipe} seed {c.seed}: {c.trained:5.0f} s  step {step:5d}"
                    print(f"  {where}  FID {score:7.2f}", flush=True)
                    c.done = score <= target
                c.done = c.done or c.trained >= limit


def ours(seed: int, options: dict[str, str]):
    """Our Trainer with its defaults (or `options`: TrainConfig fields, and ngf/ndf), built (data loaded,
    nets initialised) before the clock starts. FID is measured on what it samples with (its EMA, if on)."""
    dataset = load_dataset("fashion-mnist", 32)
    widths = {key: int(options.pop(key)) for key in ("ngf", "ndf") if key in options}
    model = ModelConfig(image_size=32, nc=1, **({"ngf": 64, "ndf": 64} | widths))
    typed = {key: typed_like(getattr(TrainConfig(), key), value) for key, value in options.items()}
    train = TrainConfig(steps=10**7, seed=seed, **typed)
    trainer = Trainer(model, train, "(not written)", dataset=dataset, write=False)  # a race writes no files
    return ((event.step, trainer.sampler) for event in trainer.run() if event.kind == "step")


def typed_like(default, text: str):
    """'0.999' -> 0.999 for a float field, 'true' -> True for a bool one, etc."""
    if isinstance(default, bool):
        return text.lower() in ("1", "true", "yes")
    return type(default)(text) if default is not None else int(text)


def parse_options(text: str) -> dict[str, str]:
    """'ema=0.999,batch_size=64' -> {'ema': '0.999', 'batch_size': '64'}"""
    return dict(item.split("=", 1) for item in text.split(",") if item)


def plain(seed: int):
    """The plain loop; its pixels are read before the clock starts (its per-item decoding is timed)."""
    pixels = fashion_mnist_pixels()
    return ((step, netG) for step, netG, _, _ in plain_steps(pixels, 32, 1, 64, 2, seed=seed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-fid", type=float, default=30.0)
    parser.add_argument("--max-minutes", type=float, default=40.0, help="training-time limit per contestant")
    parser.add_argument("--eval-every", type=float, default=60.0, help="seconds of training between evaluations")
    parser.add_argument("--n", type=int, default=2000, help="samples and test images per FID")
    parser.add_argument("--repeats", type=int, default=2, help="seeds per recipe (0, 1, ...)")
    parser.add_argument("--turn", type=float, default=10.0, help="seconds each contestant trains in its turn")
    parser.add_argument(
        "--ours",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="also race our trainer with these TrainConfig fields (or ngf/ndf) changed; repeatable",
    )
    parser.add_argument("--skip-plain", action="store_true", help="race only our recipes")
    parser.add_argument("--skip-default", action="store_true", help="race only the --ours variants of our recipe")
    args = parser.parse_args(argv)
    threads = set_threads()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{time.strftime('%Y-%m-%d')}: {threads} threads, load {load}; target FID {args.target_fid} (n={args.n})")
    judge = Judge(args.n)
    recipes = [] if args.skip_default else [("ours", lambda seed: ours(seed, {}), False)]
    for text in args.ours:
        recipes.append((f"ours[{text}]", lambda seed, text=text: ours(seed, parse_options(text)), False))
    if not args.skip_plain:
        recipes.append(("plain", plain, True))
    contestants = [
        Contestant(name, seed, iter(make_steps(seed)), is_plain)
        for seed in range(args.repeats)
        for name, make_steps, is_plain in recipes
    ]
    race(contestants, judge, args.target_fid, args.eval_every, 60 * args.max_minutes, args.turn)

    print(f"\n| recipe | training s to FID <= {args.target_fid:g}: median (per seed) | best FID (s) |")
    print("|---|---|---|")
    medians = {}
    for name, _, _ in recipes:
        runs = [c for c in contestants if c.recipe == name]
        times = [c.reached(args.target_fid) for c in runs]
        if all(t is not None for t in times):
            medians[name] = statistics.median(times)
        per_seed = ", ".join("not reached" if t is None else f"{t:.0f}" for t in times)
        best = ", ".join("{:.2f} ({:.0f})".format(*min((f, t) for t, _, f in c.curve)) for c in runs if c.curve)
        median = f"**{medians[name]:.0f}**" if name in medians else f"not within {args.max_minutes:g} min"
        print(f"| {name} | {median} ({per_seed}) | {best} |")
    for name, seconds in medians.items():
        if name != "plain" and "plain" in medians:
            print(f"plain / {name} time to target (medians): {medians['plain'] / seconds:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
