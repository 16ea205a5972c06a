"""Inside the networks: D's maps, saliency, channel search; G's ablation. Tiny models, fixed seeds."""

import torch
from torch import nn

from dcgan.explore.features import (
    SMOOTH_SIGMA,
    ablation_images,
    captured_outputs,
    channel_scores,
    channels_zeroed,
    d_verdict_and_maps,
    g_layers,
    heatmap_overlay,
    layer_features,
    linear_probe,
    maximise_channel,
    most_active_channels,
    saliency,
)
from dcgan.nets.config import ModelConfig
from dcgan.nets.latent import sample_noise
from dcgan.nets.models import Discriminator, Generator

TINY = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)


def tiny(cls, seed=0):
    torch.manual_seed(seed)
    return cls(TINY).eval()


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


def test_verdict_and_maps_cover_every_layer_and_leave_no_hooks():
    d = tiny(Discriminator)
    images = torch.rand(3, 1, 32, 32) * 2 - 1
    probability, maps = d_verdict_and_maps(d, images)
    assert probability.shape == (3,) and ((probability > 0) & (probability < 1)).all()
    assert torch.allclose(probability, torch.sigmoid(d(images)))
    assert [m.shape[1] for m in maps] == [8, 16, 32] and maps[0].shape[-1] == 16
    assert hook_count(d) == 0


def test_most_active_channels_rank_by_mean_activation():
    layer_map = torch.zeros(5, 4, 4)
    layer_map[3] = 2.0
    layer_map[1] = 1.0
    assert most_active_channels(layer_map, k=2) == [3, 1]


def test_saliency_plain_and_guided():
    d = tiny(Discriminator)
    image = torch.rand(1, 32, 32) * 2 - 1
    plain = saliency(d, image)
    guided = saliency(d, image, guided=True)
    assert plain.shape == guided.shape == image.shape
    assert plain.abs().sum() > 0 and guided.abs().sum() > 0 and not torch.allclose(plain, guided)
    # The gradient is the real one: a small step along it raises D's logit.
    with torch.no_grad():
        assert d((image + 1e-2 * plain.sign())[None]) > d(image[None])
    channel = saliency(d, image, layer=1, channel=3)
    assert channel.shape == image.shape and not torch.allclose(channel, plain)
    # SmoothGrad: the mean of the gradients at 8 seeded noisy copies, the same every time.
    noise = torch.randn((8, *image.shape), generator=torch.Generator().manual_seed(5))
    copies = [saliency(d, image + SMOOTH_SIGMA * n, layer=1, channel=3, guided=True) for n in noise]
    smoothed = saliency(d, image, layer=1, channel=3, guided=True, smooth=8, seed=5)
    assert torch.allclose(smoothed, torch.stack(copies).mean(0), atol=1e-6)
    assert not torch.allclose(smoothed, saliency(d, image, layer=1, channel=3, guided=True), atol=1e-6)
    assert hook_count(d) == 0 and all(type(m) is not nn.Module for m in d.modules())
    assert any(isinstance(m, nn.LeakyReLU) for m in d.modules())  # the original keeps its activations


def test_channel_scores_and_maximising_a_channel():
    d = tiny(Discriminator)
    images = torch.rand(20, 1, 32, 32) * 2 - 1
    scores = channel_scores(d, images, batch_size=7)
    assert [s.shape for s in scores] == [(20, 8), (20, 16), (20, 32)]
    _, maps = d_verdict_and_maps(d, images)
    assert torch.allclose(scores[2], maps[2].mean(dim=(2, 3)))
    best = maximise_channel(d, layer=1, channel=5, steps=60)
    assert best.shape == (1, 32, 32) and best.abs().max() <= 1
    assert all(p.grad is None for p in d.parameters())  # D is shared in the app: only the input is optimised
    best_score = channel_scores(d, best[None])[1][0, 5]
    assert best_score > scores[1][:, 5].max()  # more than any of the random images
    assert hook_count(d) == 0


def test_zeroing_generator_channels_changes_the_output_and_is_undone():
    g = tiny(Generator)
    z = sample_noise(4, 8, seed=1)
    before, after = ablation_images(g, z, layer=1, channels=[0, 3])
    assert before.shape == after.shape == (4, 1, 32, 32)
    assert not torch.allclose(before, after)
    unchanged, same = ablation_images(g, z, layer=1, channels=[])
    assert torch.equal(unchanged, same) and torch.equal(before, unchanged)
    assert hook_count(g) == 0


def test_hooks_leave_other_threads_forwards_alone():
    """The app shares one model between visitors: while one request has channels zeroed or activations
    captured, another request's forward through the same model, in its own thread, is neither ablated nor
    recorded (a channel view once backpropagated through another request's graph)."""
    import threading

    g, d = tiny(Generator), tiny(Discriminator)
    z = sample_noise(4, 8, seed=1)
    with torch.no_grad():
        intact = g(z)
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def hold_hooks():
        with channels_zeroed(g_layers(g)[1], [0, 3]), captured_outputs([d.blocks[0]]) as outputs:
            with torch.no_grad():
                ablated = g(z)
                d(ablated)
            seen["ablated here"] = not torch.allclose(ablated, intact)
            seen["own capture"] = outputs[0] is not None
            outputs[0] = None
            inside.set()
            done.wait(10)
            seen["other's capture"] = outputs[0]

    holder = threading.Thread(target=hold_hooks)
    holder.start()
    assert inside.wait(10)
    with torch.no_grad():
        other = g(z)  # while the hooks are set, from this thread
        d(other)
    done.set()
    holder.join(10)
    assert seen["ablated here"] and seen["own capture"]
    assert torch.equal(other, intact) and seen["other's capture"] is None


class TwoChannelGenerator(nn.Module):
    """Layer 0 has 4 channels; channel 2 carries z[0], which alone sets the image's brightness."""

    def __init__(self):
        super().__init__()
        self.config = ModelConfig(image_size=32, nc=1, nz=4, ngf=8, ndf=8)
        self.blocks = nn.ModuleList([nn.Identity(), nn.Identity()])

    def forward(self, z):
        h = self.blocks[0](z[:, [1, 2, 0, 3], None, None])  # channel 2 <- z[0]
        return torch.tanh(self.blocks[1](h[:, 2:3])).expand(-1, 1, 32, 32)


def test_the_linear_probe_weights_the_filter_that_draws_the_label():
    g = TwoChannelGenerator()
    z = torch.randn(512, 4, generator=torch.Generator().manual_seed(0))
    images, features = layer_features(g, 0, z)
    assert images.shape == (512, 1, 32, 32) and features.shape == (512, 4)
    assert torch.equal(features[:, 2], z[:, 0])  # the layer's channel 2 is z[0]
    bright = images.mean(dim=(1, 2, 3)) > 0  # channel 2 alone makes an image bright
    weights = linear_probe(features, bright)
    assert int(weights.argmax()) == 2 and weights[2] > 0
    assert weights[[0, 1, 3]].abs().max() < 0.2 * weights[2]  # the others say nothing about brightness
    assert torch.equal((linear_probe(features, ~bright) > 0).nonzero().flatten(), (weights < 0).nonzero().flatten())
    assert hook_count(g) == 0


def test_heatmap_overlay_is_an_rgb_image_hot_where_the_map_is():
    image = torch.zeros(1, 32, 32)
    activation = torch.zeros(4, 4)
    activation[0, 0] = 1.0
    overlay = heatmap_overlay(image, activation)
    assert overlay.shape == (32, 32, 3) and overlay.dtype.name == "uint8"
    assert overlay[0, 0, 0] > overlay[31, 31, 0]  # red where the channel fired
