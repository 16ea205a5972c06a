"""The Train tab's time estimate: measured on this machine, for the settings asked about."""

import pytest

from dcgan.nets.config import ModelConfig
from dcgan.training.speed import describe, measure


def test_a_measurement_times_real_training_steps_of_the_settings_given():
    tiny = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
    small = measure(tiny, 16, steps=3, warmup=1)  # a real number, never compared with another (noisy machine)
    assert small.images_per_s > 0 and small.model == tiny and small.batch_size == 16
    text = describe(small, images=60_000, epochs=5)
    minutes = 60_000 / small.images_per_s / 60
    assert (
        f"about {minutes:.1f} min an epoch of 60,000 images" in text and f"{minutes * 5:.0f} min for 5 epochs" in text
    )
    with pytest.raises(Exception, match="batch"):
        measure(tiny, 0)
