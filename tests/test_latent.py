import math

import pytest
import torch

from dcgan.latent import interpolate, lerp, sample_noise, slerp


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
