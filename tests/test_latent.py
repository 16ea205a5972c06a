import math

import pytest
import torch

from dcgan.nets.latent import interpolate, lerp, sample_noise, slerp


def test_noise_is_seeded_and_prefix_stable():
    a = sample_noise(8, 100, seed=3)
    assert torch.equal(a, sample_noise(8, 100, seed=3))
    assert not torch.equal(a, sample_noise(8, 100, seed=4))
    # Row 0 of a batch is the single image of that seed: a seed means one image.
    assert torch.equal(sample_noise(1, 100, seed=3)[0], a[0])


def test_noise_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    sample_noise(4, 10, seed=1)
    assert torch.equal(state, torch.get_rng_state())


def test_uniform_noise_range():
    z = sample_noise(1000, 100, "uniform", seed=0)
    assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.99 and z.max() > 0.99


def test_noise_needs_a_seed():
    with pytest.raises(ValueError):
        sample_noise(1, 10)


@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_endpoints(method):
    z0, z1 = sample_noise(2, 100, seed=0)
    path = interpolate(z0, z1, 9, method)
    assert path.shape == (9, 100)
    torch.testing.assert_close(path[0], z0, rtol=0, atol=1e-5)
    torch.testing.assert_close(path[-1], z1, rtol=0, atol=1e-5)


def test_lerp_midpoint_shrinks_and_slerp_keeps_the_norm():
    z0, z1 = sample_noise(2, 100, seed=1)
    lerp_norms = lerp(z0, z1, 11).norm(dim=1)
    slerp_norms = slerp(z0, z1, 11).norm(dim=1)
    typical = math.sqrt(100)
    # Independent Gaussians are ~orthogonal: the straight line's midpoint has ~1/sqrt(2) of the norm.
    assert lerp_norms[5] < 0.8 * typical
    assert slerp_norms.min() > 0.9 * min(z0.norm(), z1.norm())
    # slerp's norm moves linearly between the end norms.
    expected = torch.linspace(z0.norm().item(), z1.norm().item(), 11)
    torch.testing.assert_close(slerp_norms, expected, rtol=1e-4, atol=1e-4)


def test_slerp_of_parallel_vectors_does_not_divide_by_zero():
    z = sample_noise(1, 10, seed=0)[0]
    path = slerp(z, 2 * z, 5)
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path[2], 1.5 * z)


def test_unknown_method():
    z = torch.zeros(3)
    with pytest.raises(ValueError):
        interpolate(z, z, 3, "cubic")


# ---- arithmetic and directions, on a tiny model ----------------------------------------------------

from dcgan.nets.config import ModelConfig  # noqa: E402
from dcgan.nets.latent import (  # noqa: E402
    arithmetic,
    class_mean_latents,
    dimension_sensitivity,
    direction_class_effects,
    generate,
    group_mean,
    neighbourhood,
    principal_directions,
)
from dcgan.nets.models import Generator  # noqa: E402


@pytest.fixture(scope="module")
def tiny_generator():
    torch.manual_seed(0)
    generator = Generator(ModelConfig(image_size=32, nc=1, nz=12, ngf=8))
    with torch.no_grad():  # large weights: a fresh tiny G maps every z to nearly the same grey
        for parameter in generator.parameters():
            parameter.mul_(10)
    return generator.eval()


def test_arithmetic_on_group_means():
    a, b, c = torch.randn(3, 5), torch.randn(2, 5), torch.randn(1, 5)
    torch.testing.assert_close(arithmetic(a, b, c), a.mean(0) - b.mean(0) + c[0])
    torch.testing.assert_close(arithmetic(a[0], b[0], c[0]), a[0] - b[0] + c[0])  # single exemplars
    with pytest.raises(ValueError):
        group_mean(torch.empty(0, 5))


def test_neighbourhood_starts_at_the_point_and_stays_close():
    z = torch.randn(100)
    grid = neighbourhood(z, n=9, scale=0.25, seed=1)
    assert grid.shape == (9, 100) and torch.equal(grid[0], z)
    distances = (grid[1:] - z).norm(dim=1)
    assert (distances > 0).all() and (distances < 0.25 * 10 * 1.5).all()
    assert torch.equal(grid, neighbourhood(z, n=9, scale=0.25, seed=1))


def test_sensitivity_finds_a_dimension_that_was_made_to_matter(tiny_generator):
    with torch.no_grad():
        first_conv = tiny_generator.blocks[0][0]  # ConvTranspose2d(nz, C, 4): weight (nz, C, 4, 4)
        first_conv.weight[7] *= 8  # z[7] now drives the first layer 8x harder
    sensitivity = dimension_sensitivity(tiny_generator, n=8)
    assert sensitivity.shape == (12,) and sensitivity.argmax() == 7


def test_principal_directions_are_orthonormal_and_move_the_image(tiny_generator):
    directions, ratio = principal_directions(tiny_generator, k=4, n=300)
    assert directions.shape == (4, 12) and ratio.shape == (4,)
    torch.testing.assert_close(directions @ directions.T, torch.eye(4), atol=1e-5, rtol=0)
    assert (ratio[:-1] >= ratio[1:]).all() and ratio.sum() <= 1
    z = sample_noise(1, 12, seed=3)
    before, after = generate(tiny_generator, torch.cat([z, z + 2 * directions[0]]))
    assert (before - after).abs().mean() > 0.01
    again, _ = principal_directions(tiny_generator, k=4, n=300)
    assert torch.equal(directions, again)  # cached per model, so it must be deterministic


def test_first_direction_explains_more_of_the_layer_than_a_random_one(tiny_generator):
    from dcgan.nets.latent import layer_activations

    directions, _ = principal_directions(tiny_generator, k=2, n=300)
    z = sample_noise(200, 12, seed=5)
    random_direction = torch.nn.functional.normalize(torch.randn(12, generator=torch.Generator().manual_seed(0)), dim=0)

    def spread(direction):
        moved = layer_activations(tiny_generator, z + direction, 0) - layer_activations(tiny_generator, z, 0)
        return moved.flatten(1).norm(dim=1).mean()

    assert spread(directions[0]) > spread(random_direction)


def test_projection_recovers_a_generated_image(tiny_generator):
    from dcgan.nets.latent import project_image

    target = generate(tiny_generator, sample_noise(1, 12, seed=42))
    steps = list(project_image(tiny_generator, target, steps=150, lr=0.1, restarts=4, report_every=50))
    assert [s.step for s in steps] == [50, 100, 150]
    assert (
        steps[-1].loss < steps[0].loss
        and steps[-1].loss < 0.5 * ((target - generate(tiny_generator, sample_noise(1, 12, seed=0))) ** 2).mean()
    )
    torch.testing.assert_close(generate(tiny_generator, steps[-1].z[None])[0], steps[-1].image, atol=0.05, rtol=0)
    # G left as it was: the app shares it between visitors, so projecting must not touch its parameters
    assert all(p.requires_grad and p.grad is None for p in tiny_generator.parameters())


def test_projection_can_be_cancelled(tiny_generator):
    from dcgan.nets.latent import project_image

    target = torch.zeros(1, 1, 32, 32)
    calls = []
    steps = list(
        project_image(tiny_generator, target, steps=500, should_stop=lambda: len(calls) > 5 or calls.append(1))
    )
    assert len(steps) == 1 and steps[0].step == 7


class BrightnessGenerator(torch.nn.Module):
    """z -> a flat 32x32 image of brightness tanh(z[0]): z[0] alone decides what it shows."""

    def __init__(self, nz: int = 6):
        super().__init__()
        self.config = ModelConfig(image_size=32, nc=1, nz=nz, ngf=8, ndf=8)
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # generate() asks a parameter for the device

    def forward(self, z):
        return torch.tanh(z[:, :1, None, None]).expand(-1, 1, 32, 32) + 0 * self.anchor


def bright_or_dark(images):
    """Logits of two classes: 0 dark, 1 bright."""
    brightness = images.mean(dim=(1, 2, 3))
    return torch.stack([-10 * brightness, 10 * brightness], dim=1)


def test_class_means_separate_along_the_dimension_that_decides_the_class():
    means, counts = class_mean_latents(BrightnessGenerator(), bright_or_dark, n_classes=2, n=400, min_confidence=0.9)
    assert counts.sum() < 400 and counts.min() > 100  # unsure samples (brightness near 0) are left out
    assert means[0, 0] < -0.5 and means[1, 0] > 0.5  # dark class: negative z[0]; bright: positive
    assert means[:, 1:].abs().max() < 0.25  # the other dimensions average out
    vector = means[1] - means[0]  # "dark -> bright"
    start = sample_noise(1, 6, seed=3)
    assert bright_or_dark(generate(BrightnessGenerator(), start + 3 * vector)).argmax() == 1


def test_direction_effects_name_the_class_a_direction_moves_towards():
    directions = torch.eye(6)[:3]  # z[0] decides brightness; z[1], z[2] change nothing
    effects = direction_class_effects(BrightnessGenerator(), directions, bright_or_dark, amount=2.0, n=32)
    assert effects.shape == (3, 2)
    assert effects[0, 1] > 0.5 and effects[0, 0] < -0.5
    assert effects[1:].abs().max() < 1e-6
    reversed_effects = direction_class_effects(BrightnessGenerator(), -directions, bright_or_dark, n=32)
    assert reversed_effects[0, 1] < -0.5
