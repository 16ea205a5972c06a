"""What the app does with a model, in memory and compute, from its config alone, before anything is built.

dcgan/nets/limits.py bounds one image's forward. But the app runs a model on thousands of images the moment
it is shown: the sensitivity ranking forwards nz x n images, GANSpace keeps an early layer of 2,000
samples, D's probe scores 2,000 more, and a projection backpropagates through G hundreds of times. A
model that is legal image by image can be deadly in bulk (issue 24: a 4 KB config whose first layer
makes 8 M values per image asked for 16 GB). So this module holds, in one place:

- the sizes of everything the views do (explore.py imports them from here, so the estimate and the
  work cannot drift apart), listed as `Job`s of image-forwards through G and D;
- the batch size of every batched forward, from the network's per-image peak memory, so that no
  step holds more than STEP_BYTES however wide its layers are (`generator_batch`, `discriminator_batch`);
- `model_workload`: per job, the CPU seconds and peak bytes, and `check_model_budget`, which refuses a
  visitor's model whose preparation (what showing it computes) or any one request exceeds the host's
  budget (HostLimits.max_model_seconds, max_model_memory_mb) with a message that says why.

No torch here: only the arithmetic of dcgan/nets/limits.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcgan.errors import DcganError
from dcgan.nets.limits import NetCost, discriminator_cost, generator_cost

if TYPE_CHECKING:
    from dcgan.nets.config import ModelConfig

# ---- what the views do (explore.py's sizes) -----------------------------------------------------------------

N_DIRECTIONS = 10  # GANSpace components kept per model; the walk shows the first few as sliders
DIRECTION_SAMPLES = 2000  # samples whose block-0 activations GANSpace's PCA is fitted on
LABEL_SAMPLES = 64  # samples moved each way along a direction to name it by the classes it trades
PROBE_SIZE = 2000  # generated images D's channel scores are looked up on
DEFAULT_SEED_POOL = 100  # seeds 0..99 compete to be a model's default (default_seed)
GALLERY_SIZE = 24  # samples per batch of the arithmetic tab's gallery
EXAMPLE_BATCHES = 8  # gallery batches the worked arithmetic example picks from
TRIPLE_CLASSES = 10  # classes the worked example tries at most (those with the most confident samples)
TRIPLE_RESULTS = TRIPLE_CLASSES * (TRIPLE_CLASSES - 1) * (TRIPLE_CLASSES - 2) // 2  # A − B + C = C − B + A: 360
INSIDE_CHANNELS = 16  # most active channels reported per D layer (the Inside tab's worked example tries each)
CLASS_MEAN_SAMPLES = 2000  # samples the judge sorts into classes for class vectors
ATTRIBUTE_SAMPLES = 2000  # samples whose judged attributes give each attribute's direction (faces: glasses...)
ENTANGLEMENT_SAMPLES = 64  # samples moved -2 / 0 / +2 along each attribute direction for the entanglement table
ENTANGLEMENT_MOVES = 3
SMOOTHING = 16  # noisy copies averaged per saliency map (SmoothGrad): one gradient at 32-64 px is speckle
MAXIMISE_STEPS = 150  # gradient steps of the input optimised to excite one D channel
ABLATION_SAMPLES = 16  # samples drawn before and after zeroing filters (a 4x4 grid)
PROBE_SAMPLES = 2000  # samples the forgetting probe is fitted on
FORGET_SCORED = 200  # samples of the class the judge re-reads after zeroing (the share that still reads as it)
RANDOM_SETS = 5  # random filter sets of the same size, the baseline the share is compared to
PROJECTION_RESTARTS = 8  # starting points a projection optimises together
MAX_PROJECTION_STEPS = 600  # the Real images tab's steps slider's end
MAX_INTERPOLATION_STEPS = 16  # the Interpolation tab's sliders' ends
MAX_INTERPOLATION_ROWS = 6
MAX_INTERPOLATION_IMAGES = len(("lerp", "slerp")) * MAX_INTERPOLATION_STEPS * MAX_INTERPOLATION_ROWS


def sensitivity_samples(image_size: int) -> int:
    """Samples each z dimension's finite difference is averaged over: fewer for larger images (bounded cost)."""
    return 16 if image_size <= 32 else 8 if image_size <= 64 else 4


# ---- per-image memory, and the batch sizes that keep a step within STEP_BYTES --------------------------------

BYTES_PER_VALUE = 4  # float32
STEP_BYTES = 512 * 2**20  # one batched forward's working memory; batches shrink to fit it (the shipped models' don't)
# Inference frees each layer's input once its output exists; a layer's input, output and a BatchNorm or
# activation temporary are alive together: three tensors at most the size of the largest one.
LIVE_TENSORS = 3
# A backward pass keeps every layer's output, and the gradients flowing back are as large again.
BACKWARD_FACTOR = 2
# What 2 CPU cores sustain on these convolutions (bench/plain_dcgan.py: ~2.5 GFLOP per 64x64 image of the
# paper's G + D, forward and backward, at ~60 images/s is ~40 GFLOP/s); the estimate uses less, so the
# budget errs on the side of refusing. A backward costs about twice its forward.
FLOPS_PER_SECOND = 20e9
BACKWARD_FLOPS_FACTOR = 3


def inference_bytes(cost: NetCost) -> int:
    """Peak working memory of one image's forward without gradients."""
    return LIVE_TENSORS * cost.largest_activation * BYTES_PER_VALUE


def backward_bytes(cost: NetCost) -> int:
    """Peak working memory of one image's forward and backward (saliency, projection, channel maximising)."""
    return BACKWARD_FACTOR * cost.activations * BYTES_PER_VALUE


def _batch(per_image: int, largest: int) -> int:
    return max(1, min(largest, STEP_BYTES // max(1, per_image)))


def generator_batch(config: ModelConfig, largest: int = 256) -> int:
    """Images per batched forward of this G: up to `largest`, fewer when its layers are wide."""
    return _batch(inference_bytes(generator_cost(config)), largest)


def discriminator_batch(config: ModelConfig, largest: int = 250) -> int:
    """Images per batched forward of this D: up to `largest`, fewer when its layers are wide."""
    return _batch(inference_bytes(discriminator_cost(config)), largest)


# ---- the jobs -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One thing the app computes on a model: image-forwards through G and D, and what it holds meanwhile."""

    name: str
    g_forwards: int = 0
    g_block0_forwards: int = 0  # forwards that stop at G's first block (GANSpace)
    d_forwards: int = 0
    g_backwards: int = 0  # images backpropagated through G (each also a forward)
    d_backwards: int = 0
    backward_batch: int = 1  # images in one backward pass (SmoothGrad's copies, a projection's restarts)
    held_bytes: int = 0  # results kept while it runs (e.g. GANSpace's activations), beyond one step
    prepares: bool = False  # part of showing the model at all (warmed, or computed on a visitor's first look)


@dataclass(frozen=True)
class JobCost:
    job: Job
    seconds: float
    peak_bytes: int


def model_jobs(config: ModelConfig, judged: bool, attributes: int = 0) -> list[Job]:
    """Everything the app may run on a model of `config`, with `judged`: whether a dataset classifier reads it
    (its class-based views: direction labels, class means, worked examples, forgetting a class), and
    `attributes`: how many attributes that classifier reads (the walk's attribute sliders)."""
    jobs = _every_model_jobs(config)
    if judged:
        jobs += _judged_jobs(config)
    if judged and attributes:
        jobs += [
            Job("the attribute directions", g_forwards=ATTRIBUTE_SAMPLES, prepares=True),
            # one table per "keep the others" setting
            Job("the entanglement tables", g_forwards=2 * attributes * ENTANGLEMENT_MOVES * ENTANGLEMENT_SAMPLES),
        ]
    return jobs


def _every_model_jobs(config: ModelConfig) -> list[Job]:
    """The jobs of the views every model has."""
    g = generator_cost(config)
    image_bytes = config.nc * config.image_size**2 * BYTES_PER_VALUE
    block0_bytes = g.block_outputs[0] * BYTES_PER_VALUE
    n = sensitivity_samples(config.image_size)
    return [
        # The base images and one batch of moved ones, reduced as they come (latent.dimension_sensitivity).
        Job(
            "the sensitivity ranking of z's dimensions",
            g_forwards=(config.nz + 1) * n,
            held_bytes=2 * n * image_bytes,
            prepares=True,
        ),
        # The (samples, C*H*W) matrix of block 0, centred, and PCA's copy of it.
        Job(
            "GANSpace directions",
            g_block0_forwards=DIRECTION_SAMPLES,
            held_bytes=3 * DIRECTION_SAMPLES * block0_bytes,
            prepares=True,
        ),
        Job(
            "the default seed",
            g_forwards=DEFAULT_SEED_POOL,
            d_forwards=DEFAULT_SEED_POOL,
            held_bytes=DEFAULT_SEED_POOL * image_bytes,
            prepares=True,
        ),
        # D's probe: kept as uint8 pixels (a quarter of the floats), scored a batch at a time.
        Job(
            "D's probe batch",
            g_forwards=PROBE_SIZE,
            d_forwards=PROBE_SIZE,
            held_bytes=PROBE_SIZE * image_bytes // 4,
            prepares=True,
        ),
        Job("an interpolation", g_forwards=MAX_INTERPOLATION_IMAGES, held_bytes=MAX_INTERPOLATION_IMAGES * image_bytes),
        Job("a look inside D", d_backwards=2 * SMOOTHING, backward_batch=SMOOTHING),
        # The Inside tab's worked example: each reported channel's map by the trained and the untrained D.
        Job(
            "the Inside tab's worked example",
            d_backwards=2 * INSIDE_CHANNELS * SMOOTHING,
            backward_batch=SMOOTHING,
            prepares=True,
        ),
        Job("a look at one D channel", d_backwards=3 * SMOOTHING + MAXIMISE_STEPS, backward_batch=SMOOTHING),
        Job("an ablation", g_forwards=2 * ABLATION_SAMPLES),
        Job(
            "a projection",
            g_backwards=PROJECTION_RESTARTS * MAX_PROJECTION_STEPS,
            backward_batch=PROJECTION_RESTARTS,
        ),
    ]


def _judged_jobs(config: ModelConfig) -> list[Job]:
    """The jobs of the class-based views, which a model has when a dataset classifier reads its images."""
    image_bytes = config.nc * config.image_size**2 * BYTES_PER_VALUE
    directions = min(N_DIRECTIONS, config.nz)
    return [
        Job(
            "naming the directions",
            g_forwards=directions * 2 * LABEL_SAMPLES,
            held_bytes=2 * LABEL_SAMPLES * image_bytes,
            prepares=True,
        ),
        Job("the class means", g_forwards=CLASS_MEAN_SAMPLES, prepares=True),
        Job(
            "the worked arithmetic example",
            # the gallery batches, then the class averages and every triple's result (judge forwards not
            # counted: the judge is small and fixed)
            g_forwards=EXAMPLE_BATCHES * GALLERY_SIZE + TRIPLE_CLASSES + TRIPLE_RESULTS,
            held_bytes=(EXAMPLE_BATCHES * GALLERY_SIZE + TRIPLE_CLASSES + TRIPLE_RESULTS) * image_bytes,
            prepares=True,
        ),
        Job(
            "forgetting a class",
            g_forwards=PROBE_SAMPLES + (1 + RANDOM_SETS) * 2 * FORGET_SCORED,
            held_bytes=PROBE_SAMPLES * image_bytes,
        ),
    ]


def job_cost(config: ModelConfig, job: Job) -> JobCost:
    """Seconds (at FLOPS_PER_SECOND) and peak bytes of one job: what it holds plus its largest step."""
    g, d = generator_cost(config), discriminator_cost(config)
    flops = job.g_forwards * g.forward_flops + job.d_forwards * d.forward_flops
    flops += job.g_block0_forwards * g.flops_to_block[0]
    flops += BACKWARD_FLOPS_FACTOR * (job.g_backwards * g.forward_flops + job.d_backwards * d.forward_flops)
    steps = [0]
    if job.g_forwards or job.g_block0_forwards:
        steps.append(generator_batch(config) * inference_bytes(g))
    if job.d_forwards:
        steps.append(discriminator_batch(config) * inference_bytes(d))
    if job.g_backwards:
        steps.append(job.backward_batch * backward_bytes(g))
    if job.d_backwards:
        steps.append(job.backward_batch * backward_bytes(d))
    return JobCost(job, flops / FLOPS_PER_SECOND, job.held_bytes + max(steps))


@dataclass(frozen=True)
class Workload:
    """What showing a model costs: its preparation in all, and each job."""

    weights_bytes: int  # G and D in memory
    kept_bytes: int  # what the model keeps once prepared (D's probe pixels)
    jobs: list[JobCost]

    @property
    def prepare_seconds(self) -> float:
        return sum(cost.seconds for cost in self.jobs if cost.job.prepares)

    @property
    def peak_bytes(self) -> int:
        return self.weights_bytes + self.kept_bytes + max(cost.peak_bytes for cost in self.jobs)

    def slowest(self) -> JobCost:
        return max(self.jobs, key=lambda cost: cost.seconds)

    def largest(self) -> JobCost:
        return max(self.jobs, key=lambda cost: cost.peak_bytes)


def model_workload(config: ModelConfig, judged: bool, attributes: int = 0) -> Workload:
    """Every job's cost for a model of `config` (judged: a dataset classifier reads its images; attributes: how
    many attributes it reads)."""
    g, d = generator_cost(config), discriminator_cost(config)
    kept = PROBE_SIZE * config.nc * config.image_size**2  # uint8 pixels
    jobs = [job_cost(config, job) for job in model_jobs(config, judged, attributes)]
    return Workload(weights_bytes=g.state_bytes + d.state_bytes, kept_bytes=kept, jobs=jobs)


def check_model_budget(
    config: ModelConfig, judged: bool, max_seconds: float, max_memory_mb: float, attributes: int = 0
) -> Workload:
    """The model's workload, or a DcganError when showing it, or any one request on it, would take more than
    `max_seconds` of CPU or more than `max_memory_mb` of memory (0: no limit). Nothing is built or run."""
    workload = model_workload(config, judged, attributes)
    fix = "; a smaller model (fewer or narrower layers, a smaller image or nz) fits"
    if max_seconds > 0 and workload.prepare_seconds > max_seconds:
        raise DcganError(
            f"showing this model would take about {workload.prepare_seconds:,.0f} s of this server's CPU (its views "
            f"run it on thousands of images); this server allows {max_seconds:,.0f} s per model{fix}"
        )
    slowest = workload.slowest()
    if max_seconds > 0 and slowest.seconds > max_seconds:
        raise DcganError(
            f"{slowest.job.name} on this model would take about {slowest.seconds:,.0f} s of this server's CPU; "
            f"this server allows {max_seconds:,.0f} s per request{fix}"
        )
    if max_memory_mb > 0 and workload.peak_bytes > max_memory_mb * 2**20:
        largest = workload.largest()
        raise DcganError(
            f"this model would need about {workload.peak_bytes / 2**20:,.0f} MB of memory at its peak "
            f"({largest.job.name}); this server allows {max_memory_mb:,.0f} MB per model{fix}"
        )
    return workload
