"""A generator's BatchNorm statistics measured on its own activations (the EMA generator has none of its own)."""

import copy

import torch

from dcgan.nets.batchnorm_stats import BATCH_SIZE, BATCHES, SEED, measure_batchnorm_statistics
from dcgan.nets.config import ModelConfig
from dcgan.nets.latent import cpu_generator, sample_noise
from dcgan.nets.models import Generator


def generator(**overrides) -> Generator:
    torch.manual_seed(0)
    return Generator(ModelConfig(**({"image_size": 32, "nc": 1, "nz": 8, "ngf": 8} | overrides)))


def test_running_statistics_become_those_of_the_generators_own_activations():
    net = generator()
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    inputs: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(norms))}
    hooks = [
        norm.register_forward_pre_hook(lambda _m, args, i=i: inputs[i].append(args[0])) for i, norm in enumerate(norms)
    ]
    measure_batchnorm_statistics(net)
    for hook in hooks:
        hook.remove()
    assert not net.training and all(norm.momentum == 0.1 for norm in norms)  # momentum restored
    for i, norm in enumerate(norms):
        assert len(inputs[i]) == BATCHES
        batch_means = torch.stack([x.mean(dim=(0, 2, 3)) for x in inputs[i]])
        assert torch.allclose(norm.running_mean, batch_means.mean(0), atol=1e-5)  # every batch weighted alike


def test_measuring_is_deterministic_and_changes_only_the_statistics():
    first, second = generator(), generator()
    second.load_state_dict(first.state_dict())
    before = copy.deepcopy(first.state_dict())
    measure_batchnorm_statistics(first)
    measure_batchnorm_statistics(second)
    after = first.state_dict()
    assert all(torch.equal(after[k], second.state_dict()[k]) for k in after)
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)
    # and the fixed noise is the module's own, not the caller's global RNG
    state = torch.get_rng_state()
    measure_batchnorm_statistics(first)
    assert torch.equal(state, torch.get_rng_state())
    assert sample_noise(BATCH_SIZE, 8, generator=cpu_generator(SEED)).shape == (BATCH_SIZE, 8)


def test_a_generator_without_batchnorm_is_left_alone():
    net = generator(g_batchnorm=False)
    before = copy.deepcopy(net.state_dict())
    measure_batchnorm_statistics(net)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
