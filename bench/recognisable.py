"""How many of a model's samples the dataset's judge classifier reads with confidence, beside real images.

    python bench/recognisable.py checkpoints/emoji-64 runs/emoji-I-snaps/step-10000 --n 2000

Random-CNN precision rewards simple shapes: plain colour blobs score the highest precision of any
emoji run (bench/results/2026-11-30-emoji-showcase.md, run E). A picture a student reads as an emoji
is one the judge (checkpoints/emoji-judge, 85% held-out accuracy) puts in one category with little
doubt. So this prints, per model, the share of `--n` samples (seed `--seed`, the eval's noise) whose
top class probability reaches each threshold, under the same share for the dataset's held-out real
images (the ceiling; a generous one for emoji, where the judge was trained on most of the glyphs the
metrics hold out). Models must share one dataset with a judge (emoji, Fashion-MNIST).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.nets.latent import generate, sample_noise  # noqa: E402
from dcgan.quality.classifier import classifier_for  # noqa: E402
from dcgan.quality.real_images import load_real_images  # noqa: E402
from dcgan.store.checkpoints import load_generator
from dcgan.store.model_files import load_run_config  # noqa: E402

THRESHOLDS = (0.5, 0.8, 0.9, 0.99)


@torch.inference_mode()
def confident_shares(judge: torch.nn.Module, images: torch.Tensor, thresholds=THRESHOLDS) -> list[float]:
    """For each threshold, the share of images whose top class probability reaches it."""
    judge.eval()
    top = torch.cat([judge(part).softmax(1).max(1).values for part in images.split(500)])
    return [(top >= threshold).float().mean().item() for threshold in thresholds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders or run directories, of one dataset")
    parser.add_argument("--n", type=int, default=2000, help="samples per model (and real images at most)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    configs = {folder: load_run_config(folder)[1] for folder in args.models}
    datasets = {config.train.data for config in configs.values()}
    if len(datasets) != 1:
        parser.error(f"the models were trained on different data: {sorted(datasets)}")
    data = datasets.pop()
    judge = classifier_for(data)
    if judge is None:
        parser.error(f"no judge classifier is shipped for {data!r}")
    first = next(iter(configs.values())).model
    real = load_real_images(data, first.nc, first.image_size, args.n, args.seed).test

    width = max(len("real held-out"), *(len(folder) for folder in args.models))
    print(f"share of images the {data} judge reads with top-class probability >= ...")
    print(f"{'':{width}}  " + "  ".join(f"{threshold:>6}" for threshold in THRESHOLDS))
    rows = [("real held-out", real)]
    for folder in args.models:
        generator = load_generator(folder, device="cpu")
        noise = sample_noise(args.n, generator.config.nz, generator.config.noise, seed=args.seed)
        rows.append((folder, generate(generator, noise)))
    for name, images in rows:
        print(f"{name:{width}}  " + "  ".join(f"{share:6.3f}" for share in confident_shares(judge, images)))


if __name__ == "__main__":
    main()
