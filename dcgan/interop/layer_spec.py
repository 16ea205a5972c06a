"""Strides and paddings of an imported ConvTranspose2d chain: the --layers spec, and the layouts that fit.

A state dict holds each layer's kernel but not its stride, padding or output_padding, and other
choices than the original's still make a plausible image size: a model that loads, runs, and
draws nothing like the original. So the geometry is either stated (`--layers k4s1p0,k4s2p1,...`),
or taken from a standard DCGAN layout when exactly one fits the kernels (and the image size, if
given). Otherwise the import stops with the layouts that fit, ready to paste.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dcgan.errors import DcganError
from dcgan.nets.limits import MAX_IMAGE_SIZE, MAX_STRIDE

COMMON_IMAGE_SIZES = (28, 32, 48, 64, 96, 128, 256)
SHOWN_CANDIDATES = 16  # lines of a refusal: enough to find one's own, short enough to read
SPEC_HELP = "per ConvTranspose2d layer k<kernel>s<stride>p<padding>, optionally o<output_padding>"
_PART = re.compile(r"k(\d+)s(\d+)p(\d+)(?:o(\d+))?")


@dataclass(frozen=True)
class Step:
    """How one ConvTranspose2d runs: ConvTranspose2d(in, out, kernel, stride, padding, output_padding)."""

    kernel: int
    stride: int
    padding: int
    output_padding: int = 0

    def out_size(self, in_size: int) -> int:
        return (in_size - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding

    def spec(self) -> str:
        return f"k{self.kernel}s{self.stride}p{self.padding}" + (
            f"o{self.output_padding}" if self.output_padding else ""
        )


def parse_layers(text: str) -> list[Step]:
    """ "k4s1p0,k4s2p1o1" -> [Step(4, 1, 0), Step(4, 2, 1, 1)]; DcganError naming a part it cannot read."""
    parts = [part.strip().lower() for part in str(text).split(",")]
    if not any(parts):
        raise DcganError(f"--layers is empty; expected {SPEC_HELP}, comma-separated, e.g. k4s1p0,k4s2p1,k4s2p1")
    steps = []
    for index, part in enumerate(parts):
        match = _PART.fullmatch(part)
        if not match:
            raise DcganError(f"--layers part {index + 1} {part!r} is not {SPEC_HELP} (e.g. k4s2p1 or k5s2p2o1)")
        kernel, stride, padding, output_padding = (int(group or 0) for group in match.groups())
        steps.append(Step(kernel, stride, padding, output_padding))
    return steps


def format_layers(steps: list[Step]) -> str:
    return ",".join(step.spec() for step in steps)


def config_spec(layers: list[dict]) -> str:
    """The --layers spec of a chain ModelConfig's `layers`."""
    return format_layers(
        [Step(layer["kernel"], layer["stride"], layer["padding"], layer.get("output_padding", 0)) for layer in layers]
    )


def layout_size(steps: list[Step], start_size: int) -> int:
    size = start_size
    for step in steps:
        size = step.out_size(size)
    return size


def check_layers(steps: list[Step], kernels: list[int], start_size: int, image_size: int | None) -> int:
    """The image size a stated spec makes; DcganError if it does not fit the weights (or --image-size)."""
    if len(steps) != len(kernels):
        raise DcganError(
            f"--layers gives {len(steps)} layers but the weights have {len(kernels)} ConvTranspose2d layers "
            f"(kernels {', '.join(map(str, kernels))})"
        )
    size = start_size
    for index, (step, kernel) in enumerate(zip(steps, kernels, strict=True)):
        where = f"--layers part {index + 1} ({step.spec()})"
        if step.kernel != kernel:
            raise DcganError(f"{where}: the weights of ConvTranspose2d layer {index + 1} have kernel {kernel}")
        if not 1 <= step.stride <= MAX_STRIDE:
            raise DcganError(f"{where}: stride must be 1 to {MAX_STRIDE}")
        if step.padding >= kernel:
            raise DcganError(f"{where}: padding must be less than the kernel ({kernel})")
        if step.output_padding >= step.stride:
            raise DcganError(f"{where}: output_padding must be less than the stride (PyTorch's rule)")
        size = step.out_size(size)
        if not 1 <= size <= MAX_IMAGE_SIZE:
            raise DcganError(f"{where} makes {size}x{size} maps; they must be 1 to {MAX_IMAGE_SIZE} pixels wide")
    if image_size is not None and size != image_size:
        raise DcganError(f"--layers {format_layers(steps)} makes {size}x{size} images, not {image_size}x{image_size}")
    return size


# ---------------------------------------------------------------------------- standard layouts


def _standard_steps(kernel: int, size: int, index: int, from_z: bool, sized: bool) -> list[Step]:
    """The steps of the standard DCGAN layouts at this layer (input `size`).

    From z (1x1) the first layer is k s1 p0 (pytorch/examples, the PyTorch tutorial). Then each
    layer doubles: k4 s2 p1, or k5 s2 p2 o1 (ports of Keras' padding="same"). Two 28x28 variants:
    a k3 s2 p1 layer on 4x4 makes 7x7 (MNIST generators: 4 -> 7 -> 14 -> 28), and the TensorFlow
    tutorial's k5 s1 p2 keeps its first 7x7 map (7 -> 7 -> 14 -> 28). When the image size is
    stated (`sized`), a k3 layer may also double like a Keras port (k3 s2 p1 o1): without the
    size, that would leave every MNIST generator's 4 -> 7 open.
    """
    if from_z and index == 0:
        return [Step(kernel, 1, 0)]
    steps = []
    if kernel == 4:
        steps.append(Step(4, 2, 1))
    if kernel == 5:
        steps.append(Step(5, 2, 2, 1))
        if size == 7 and index == int(from_z):  # the first layer on the 7x7 map
            steps.append(Step(5, 1, 2))
    if kernel == 3 and size == 4:
        steps.append(Step(3, 2, 1))
    if kernel == 3 and sized:
        steps.append(Step(3, 2, 1, 1))
    return steps


def standard_layouts(kernels: list[int], start_size: int, sized: bool = False) -> list[list[Step]]:
    """Every standard layout (see _standard_steps) for these kernels, from a start_size map."""
    layouts: list[tuple[int, list[Step]]] = [(start_size, [])]
    for index, kernel in enumerate(kernels):
        layouts = [
            (step.out_size(size), [*steps, step])
            for size, steps in layouts
            for step in _standard_steps(kernel, size, index, start_size == 1, sized)
        ]
    return [steps for _, steps in layouts]


def choose_geometry(
    kernels: list[int], image_size: int | None = None, start_size: int = 1, what: str = ""
) -> tuple[list[Step], int]:
    """The one standard layout that fits; otherwise DcganError listing the layouts that fit.

    `start_size`: 1 when the first layer takes z, k when a dense layer makes k x k maps.
    `what` describes the layers in the refusal ("after a dense layer making 7x7 maps").
    """
    targets = (image_size,) if image_size else COMMON_IMAGE_SIZES
    layouts = standard_layouts(kernels, start_size, sized=image_size is not None)
    fits = [steps for steps in layouts if layout_size(steps, start_size) in targets]
    if len(fits) == 1:
        return fits[0], layout_size(fits[0], start_size)
    raise DcganError(ambiguity_message(kernels, start_size, image_size, len(fits), what))


# ---------------------------------------------------------------------------- candidates


def _step_cost(step: Step, in_size: int) -> int:
    """How often such a layer is written in published generators: 0 usual ... 4 rare."""
    out = step.out_size(in_size)
    if step in (Step(4, 2, 1), Step(5, 2, 2, 1), Step(3, 2, 1)):
        return 0
    if step.output_padding == 0 and (step.padding == 0 or (step.stride == 1 and out == in_size)):
        return 1  # padding 0 (Coursera's GANs), or "same" at stride 1
    if step.stride == 2 and out == 2 * in_size:
        return 2  # a doubling with output_padding (Keras "same" ports with odd kernels)
    return 3 if step.output_padding == 0 else 4


def _all_steps(kernel: int) -> list[Step]:
    return [
        Step(kernel, stride, padding, output_padding)
        for stride in (1, 2)
        for padding in range(kernel)
        for output_padding in range(stride)
    ]


def candidate_layouts(kernels: list[int], start_size: int, targets: tuple[int, ...], limit: int) -> list[list[Step]]:
    """Up to `limit` layouts of stride 1 or 2 ending at a target size, most usual first.

    From z the first layer is p0 (on a 1x1 input its stride changes nothing; see candidate_lines).
    Dynamic programming keeps the `limit` cheapest chains per size, which keeps the cheapest overall.
    """
    best: dict[int, list[tuple[int, list[Step]]]] = {start_size: [(0, [])]}
    for index, kernel in enumerate(kernels):
        options = [Step(kernel, 1, 0)] if start_size == 1 and index == 0 else _all_steps(kernel)
        grown: dict[int, list[tuple[int, list[Step]]]] = {}
        for size, chains in best.items():
            for step in options:
                out = step.out_size(size)
                if 1 <= out <= MAX_IMAGE_SIZE:
                    cost = _step_cost(step, size)
                    grown.setdefault(out, []).extend((total + cost, [*steps, step]) for total, steps in chains)
        best = {size: sorted(chains, key=_chain_order)[:limit] for size, chains in grown.items()}
    found = [chain for size in targets for chain in best.get(size, [])]
    return [steps for _, steps in sorted(found, key=_chain_order)[:limit]]


def _chain_order(chain: tuple[int, list[Step]]) -> tuple:
    total, steps = chain
    return total, [(step.stride, step.padding, step.output_padding) for step in steps]


def candidate_lines(kernels: list[int], start_size: int, targets: tuple[int, ...]) -> tuple[list[str], int]:
    """("--layers SPEC   -> SxS" lines, how many more were left out)."""
    layouts = candidate_layouts(kernels, start_size, targets, SHOWN_CANDIDATES + 1)
    lines = []
    for steps in layouts:
        size = layout_size(steps, start_size)
        lines.append(f"  --layers {format_layers(steps)}   -> {size}x{size}")
        if start_size == 1:  # the same layer written with stride 2, as some courses do: listed so it is found
            twin = [Step(steps[0].kernel, 2, 0), *steps[1:]]
            lines.append(f"  --layers {format_layers(twin)}   -> {size}x{size} (the same)")
    shown = lines[:SHOWN_CANDIDATES]
    return shown, len(lines) - len(shown)


def ambiguity_message(kernels: list[int], start_size: int, image_size: int | None, standard: int, what: str) -> str:
    targets = (image_size,) if image_size else COMMON_IMAGE_SIZES
    at = f"{image_size}x{image_size}" if image_size else "a common image size"
    layers = f"{len(kernels)} ConvTranspose2d layers (kernels {', '.join(map(str, kernels))}){what}"
    found = "no standard DCGAN layout" if standard == 0 else f"{standard} standard DCGAN layouts"
    head = (
        f"the weights do not say the strides and paddings of their {layers}, and {found} "
        f"make{'s' if standard < 2 else ''} {at} from them; a guess could load and draw something else. "
        f"Say the original's with --layers ({SPEC_HELP}, as in its ConvTranspose2d)."
    )
    lines, more = candidate_lines(kernels, start_size, targets)
    if not lines:
        return head + f" But no stride/padding choice makes {at} from them (strides 1 or 2); check --image-size."
    tail = ["  ... and more" + ("; --image-size narrows the list" if image_size is None else "")] if more else []
    return "\n".join([head + " Layouts that fit, most usual first:", *lines, *tail])
