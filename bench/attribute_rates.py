"""Attribute shares in a model's samples, overall and by gender, as the faces judge reads them (> 0.5).

python bench/attribute_rates.py MODEL [N]   (N samples, seed 1; default 1000)
The eval's attribute table gives the overall shares; this splits them by the judge's "female" reading, which is
where a faces model's entanglement shows (beards on every man, smiles only on women).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.explore.attributes import read_attributes  # noqa: E402
from dcgan.explore.explorer import Explorer  # noqa: E402
from dcgan.nets.latent import sample_noise  # noqa: E402


def main(model: str, n: int) -> None:
    explorer = Explorer.load(model)
    judge = explorer.judge()
    if judge is None or "female" not in judge.config.attributes:
        sys.exit(f"{model}: its judge does not read a 'female' attribute (a faces model is needed)")
    z = sample_noise(n, explorer.nz, explorer.noise, seed=1)
    with torch.inference_mode():
        read = read_attributes(explorer.generator, judge, z) > 0.5
    names = list(judge.config.attributes)
    woman = read[:, names.index("female")]
    print(f"{model}: n={n}, seed 1; the judge's reading > 0.5")
    print("| attribute | all samples | women | men |\n|---|---|---|---|")
    for k, name in enumerate(names):
        column = read[:, k].float()
        print(f"| {name} | {column.mean():.1%} | {column[woman].mean():.1%} | {column[~woman].mean():.1%} |")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000)
