"""DiffAugment: what D sees is changed the same random way for real and generated images, differentiably."""

import pytest
import torch

from dcgan.training import diffaugment

POLICY = "color,translation,cutout"


def images(count=6, size=32, seed=0):
    return torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_same_seed_same_changes_and_shape():
    x = images()
    first = diffaugment.apply(x, diffaugment.draw(POLICY, 6, 32, torch.Generator().manual_seed(5)))
    again = diffaugment.apply(x, diffaugment.draw(POLICY, 6, 32, torch.Generator().manual_seed(5)))
    other = diffaugment.apply(x, diffaugment.draw(POLICY, 6, 32, torch.Generator().manual_seed(6)))
    assert first.shape == x.shape and torch.equal(first, again) and not torch.equal(first, other)


def test_gradient_reaches_the_images():
    x = images().requires_grad_(True)
    out = diffaugment.apply(x, diffaugment.draw(POLICY, 6, 32, torch.Generator().manual_seed(0)))
    out.square().sum().backward()
    assert x.grad is not None and (x.grad != 0).float().mean() > 0.3  # cut-out and the gap get no gradient


def test_translation_moves_each_image_by_its_shift_and_fills_the_gap_with_zero():
    x = torch.full((2, 1, 16, 16), -1.0)
    x[:, :, 8, 8] = 1.0
    out = diffaugment.apply(x, {"translation": torch.tensor([[2, -1], [-2, 0]])})
    assert out[0, 0, 10, 7] == 1 and out[1, 0, 6, 8] == 1 and (out == 1).sum() == 2
    assert torch.all(out[0, 0, :2] == 0) and torch.all(out[0, 0, :, -1] == 0)  # the gap: mid grey
    assert torch.all(out[1, 0, -2:] == 0)


def test_cutout_zeroes_a_square_of_half_the_side():
    x = torch.ones(1, 3, 16, 16)
    out = diffaugment.apply(x, {"cutout": torch.tensor([[8, 6]])})
    assert torch.all(out[0, :, 4:12, 2:10] == 0) and (out == 0).sum() == 3 * 8 * 8
    clipped = diffaugment.apply(x, {"cutout": torch.tensor([[0, 16]])})
    assert (clipped == 0).sum() == 3 * 4 * 4  # a corner: clipped at the edges


def test_color_changes_brightness_saturation_and_contrast_per_image():
    x = images(count=2)
    unchanged = diffaugment.apply(x, {"color": torch.tensor([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]])})
    assert torch.allclose(unchanged, x, atol=1e-6)  # the middle of every range is no change
    brighter = diffaugment.apply(x, {"color": torch.tensor([[1.0, 0.5, 0.5], [0.0, 0.5, 0.5]])})
    assert torch.allclose(brighter[0], x[0] + 0.5, atol=1e-6) and torch.allclose(brighter[1], x[1] - 0.5, atol=1e-6)
    grey = diffaugment.apply(x, {"color": torch.tensor([[0.5, 0.0, 0.5], [0.5, 0.5, 0.5]])})
    assert torch.allclose(grey[0], grey[0].mean(0, keepdim=True).expand(3, -1, -1)) and torch.allclose(
        grey[1], x[1], atol=1e-6
    )


def test_a_slice_of_the_global_draw_changes_a_slice_as_the_whole_batch_does():
    # What lets N processes train as one: each takes its rows of the global batch's draw.
    x = images(count=8)
    params = diffaugment.draw(POLICY, 8, 32, torch.Generator().manual_seed(3))
    whole = diffaugment.apply(x, params)
    half = diffaugment.apply(x[4:], {name: values[4:] for name, values in params.items()})
    assert torch.allclose(whole[4:], half, atol=1e-6)


def test_policies_parse_and_unknown_operations_are_refused():
    assert diffaugment.parse_policy("off") == () and diffaugment.draw("off", 4, 32, torch.Generator()) == {}
    assert diffaugment.parse_policy("translation,cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match="rotation"):
        diffaugment.parse_policy("translation,rotation")
