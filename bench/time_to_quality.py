"""Wall-clock to a fixed Fashion-MNIST FID: our default recipe vs. the plain pytorch/examples loop.

    python bench/time_to_quality.py --target-fid 30 --max-minutes 40
    python bench/time_to_quality.py --ours ema=0.999 --ours batch_size=64,lr_d=4e-4   # levers, raced too

Both train 32x32 Fashion-MNIST generators (ngf = ndf = 64) on this machine, one after the other
(alone on the CPU: run nothing else meanwhile). Every `--eval-every` seconds of *training* time
each is paused and measured: FID in the judge classifier's feature space between `--n` samples
and `--n` test images (smaller than `dcgan eval`'s 10,000, so the numbers run higher; both
contestants are measured identically). Evaluation time is not counted. Prints, per contestant,
the curve (training seconds, step, FID) and the training time at which FID first reached the
target, and the ratio plain / ours.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plain_dcgan import fashion_mnist_pixels, plain_steps  # noqa: E402

from dcgan.config import ModelConfig, TrainConfig  # noqa: E402
from dcgan.data import load_dataset  # noqa: E402
from dcgan.device import set_threads  # noqa: E402
from dcgan.latent import sample_noise  # noqa: E402
from dcgan.metrics import JudgeFeatures, extract, fid  # noqa: E402
from dcgan.train import Trainer  # noqa: E402


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


def race(name: str, steps, judge: Judge, plain: bool, target: float, eval_every: float, limit: float) -> list:
    """Consume a step iterator of (step, generator); returns [(train_seconds, step, fid), ...]."""
    curve, trained, next_eval = [], 0.0, eval_every
    iterator = iter(steps)
    while trained < limit:
        started = time.perf_counter()
        step, generator = next(iterator)
        trained += time.perf_counter() - started
        if trained >= next_eval:
            score = judge(generator, plain)
            curve.append((trained, step, score))
            print(f"  {name}: {trained:7.0f} s  step {step:6d}  FID {score:8.2f}", flush=True)
            next_eval += eval_every
            if score <= target:
                break
    return curve


def ours(seed: int, options: dict[str, str]):
    """Our Trainer with its defaults (or `options`: TrainConfig fields, and ngf/ndf), built (data loaded,
    nets initialised) before the clock starts. FID is measured on what it samples with (its EMA, if on)."""
    dataset = load_dataset("fashion-mnist", 32)
    widths = {key: int(options.pop(key)) for key in ("ngf", "ndf") if key in options}
    model = ModelConfig(image_size=32, nc=1, **({"ngf": 64, "ndf": 64} | widths))
    typed = {key: typed_like(getattr(TrainConfig(), key), value) for key, value in options.items()}
    train = TrainConfig(steps=10**7, sample_every=10**9, checkpoint_every=10**9, seed=seed, **typed)
    run_dir = tempfile.TemporaryDirectory()
    trainer = Trainer(model, train, run_dir.name, dataset=dataset)
    trainer.keep_alive = run_dir  # the folder lives as long as the trainer
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
    parser.add_argument("--seed", type=int, default=0)
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
    limit = 60 * args.max_minutes
    contestants = [] if args.skip_default else [("ours", lambda: ours(args.seed, {}), False)]
    for text in args.ours:
        contestants.append((f"ours[{text}]", lambda text=text: ours(args.seed, parse_options(text)), False))
    if not args.skip_plain:
        contestants.append(("plain", lambda: plain(args.seed), True))
    results = {}
    for name, make_steps, is_plain in contestants:
        results[name] = race(name, make_steps(), judge, is_plain, args.target_fid, args.eval_every, limit)
    print("\n| recipe | training s to FID <= target | step | FID then | best FID (s) |")
    print("|---|---|---|---|---|")
    reached = {}
    for name, curve in results.items():
        hit = next(((s, step, f) for s, step, f in curve if f <= args.target_fid), None)
        best = min(curve, key=lambda point: point[2])
        reached[name] = hit[0] if hit else None
        when = f"{hit[0]:.0f} | {hit[1]} | {hit[2]:.2f}" if hit else f"not within {args.max_minutes:g} min | | "
        print(f"| {name} | {when} | {best[2]:.2f} ({best[0]:.0f}) |")
    for name, seconds in reached.items():
        if name != "plain" and seconds and reached.get("plain"):
            print(f"plain / {name} time to target: {reached['plain'] / seconds:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
