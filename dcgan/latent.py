"""The latent-space tools under the name the README's library example (and older notebooks) import them by.

They live in dcgan/nets/latent.py; this module only keeps `from dcgan.latent import generate, sample_noise` working.
"""

from dcgan.nets.latent import (  # noqa: F401
    ProjectionStep,
    arithmetic,
    batch_for,
    class_mean_latents,
    cpu_generator,
    dimension_sensitivity,
    direction_class_effects,
    generate,
    group_mean,
    interpolate,
    layer_activations,
    lerp,
    neighbourhood,
    principal_directions,
    project_image,
    sample_noise,
    slerp,
)
