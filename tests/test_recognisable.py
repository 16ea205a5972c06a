"""bench/recognisable.py: the share of images a judge reads with confidence."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from recognisable import confident_shares  # noqa: E402


class FixedJudge(torch.nn.Module):
    """Logits read off the image: pixel [0, 0, 0] is how sure it is of class 0 (of 2)."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        sure = images[:, 0, 0, 0]
        return torch.stack([sure, torch.zeros_like(sure)], dim=1)


def test_shares_count_images_at_or_over_each_threshold():
    logits = torch.tensor([0.0, 2.0, 3.0, 5.0])  # top probabilities 0.5, 0.881, 0.953, 0.993
    images = torch.zeros(4, 1, 2, 2)
    images[:, 0, 0, 0] = logits
    assert confident_shares(FixedJudge(), images, (0.5, 0.9, 0.99)) == [1.0, 0.5, 0.25]
