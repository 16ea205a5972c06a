"""`python -m dcgan figure walk | interpolate | arithmetic | inside | ablate`: the paper's figures as the app
draws them (the same dcgan.explore calls, the same pixels and PNG metadata), one subcommand each."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dcgan.errors import DcganError
from dcgan.explore.ablation import (
    ablate,
    ablation_metadata,
    describe_ablation,
    describe_forgetting,
    forget_class,
    forgetting_metadata,
)
from dcgan.explore.arithmetic import ARITHMETIC_GROUPS, arithmetic_images, describe_arithmetic, seeds_z
from dcgan.explore.attribute_arithmetic import PAPER_SUMS, example_results, measure_sum, rates_markdown
from dcgan.explore.explorer import Explorer
from dcgan.explore.inside import inside_image, inside_metadata, look_at_channel, look_inside
from dcgan.explore.interpolation import (
    INTERPOLATION_METHODS,
    Interpolation,
    interpolation_export_scale,
    interpolation_images,
    interpolation_metadata,
    interpolation_paths,
)
from dcgan.explore.walk import STRIP_LENGTH, strip_images, strip_metadata, walk_along
from dcgan.images import gradient_image, grid_image, rows_image, save_png, to_uint8, upscaled
from dcgan.io_utils import atomic_write_text


def add_figure_commands(commands, parser_class: type) -> None:
    """The `figure` subcommand and its figures, under the CLI's subcommands."""
    figure = commands.add_parser(
        "figure", help="the paper's figures, as the app draws them", description="Draw one of the paper's figures."
    )
    figures = figure.add_subparsers(dest="figure", required=True, parser_class=parser_class)
    parsers = {
        name: _figure_parser(figures, name, run, help=text, description=about)
        for name, (run, text, about) in _figure_specs().items()
    }
    _add_figure_arguments(parsers)


def _figure_specs() -> dict[str, tuple]:
    """name -> (what runs it, --help line, description): each is `figure NAME`, with --model and --out."""
    return {
        "walk": (
            cmd_figure_walk,
            "9 images along a direction or a z dimension",
            "The paper's 'walking in the latent space' strip: the seed's z moved along a GANSpace "
            "direction (-3 to +3 sigma) or one z dimension swept over its range, 9 images side by side, "
            "with the metadata the app's export carries (model, seed, along, caption).",
        ),
        "interpolate": (
            cmd_figure_interpolate,
            "lerp and slerp between seed pairs",
            "The paper's Figure 4, as the app's Interpolation tab draws it: row i joins seed A+i to "
            "seed B+i; the lerp rows above the slerp rows in one PNG, with the metadata the app's export "
            "carries (model, method, seeds, top_row, steps, rows).",
        ),
        "arithmetic": (
            cmd_figure_arithmetic,
            "A - B + C on averaged seeds' z, and its neighbourhood",
            "The paper's Figure 7, as the app's Vector arithmetic tab computes it: each group's z's "
            "averaged; row 1 the three averages, rows 2-4 A - B + C on them (top left) and 8 small moves around "
            "it, with metadata (model, A, B, C, sum, layout). With --measure (a model whose judge reads attributes: "
            "faces), the paper's two face sums measured instead: over random exemplar triples, the share of "
            "results the judge reads as the answer, beside plain C; the table printed and written beside --out "
            "(.md), --out showing example triples (A, B, C averages, then A - B + C, one row each).",
        ),
        "inside": (
            cmd_figure_inside,
            "what the discriminator sees in an image",
            "The paper's Figure 5, as the app's Inside tab draws it: D's verdict on an image (a seed's "
            "sample, or --image), the saliency of its score plain and by guided backpropagation, and per D layer the "
            "channels that fire most over the image; --channel adds one channel's view.",
        ),
        "ablate": (
            cmd_figure_ablate,
            "zero generator filters: the same noise before and after",
            "The paper's Figure 6 ('forgetting to draw'), as the app's Inside tab draws it: samples "
            "with G intact beside the same noise with some filters of one G layer zeroed, and their difference: the "
            "filters named by --channels, or, with --class, those a linear probe on the layer's feature maps finds "
            "for that class (drawn on samples of the class).",
        ),
    }


def _add_figure_arguments(parsers: dict[str, argparse.ArgumentParser]) -> None:
    """Each figure's own flags."""
    walk = parsers["walk"]
    walk.add_argument("--seed", type=int, default=0, help="the z to start from (the app's walk seed)")
    walk.add_argument(
        "--along", default="direction 0", help='"direction K" (a GANSpace direction) or "z[D]" (one z dimension)'
    )
    walk.add_argument("--scale", type=int, help="upscale each pixel (default: ~128 px a frame, as the app's export)")
    between = parsers["interpolate"]
    between.add_argument("--seeds", required=True, type=int, nargs=2, metavar=("A", "B"), help="the two seeds")
    between.add_argument("--steps", type=int, default=9, help="images along each path (default 9)")
    between.add_argument("--rows", type=int, default=4, help="seed pairs, one row each (default 4)")
    sums = parsers["arithmetic"]
    for group in ARITHMETIC_GROUPS:
        sums.add_argument(
            f"--{group.lower()}",
            type=seed_list,
            metavar="SEEDS",
            help=f"group {group}: seeds, like 1,2,3",
        )
    sums.add_argument("--scale", type=int, help="upscale each pixel (default: ~64 px an image)")
    sums.add_argument(
        "--measure",
        action="store_true",
        help="measure the paper's face sums (glasses, smile) over random exemplar triples instead of --a/--b/--c",
    )
    sums.add_argument("--triples", type=int, default=200, help="with --measure: random triples per size (default 200)")
    inside = parsers["inside"]
    inside.add_argument("--seed", type=int, default=0, help="look at this seed's generated sample (default 0)")
    inside.add_argument("--image", type=Path, help="look at this image file instead of a generated sample")
    inside.add_argument("--channels", type=int, default=8, help="most active channels shown per layer (default 8)")
    inside.add_argument(
        "--channel", type=int, nargs=2, metavar=("LAYER", "CHANNEL"), help="also show one D channel in detail"
    )
    forgetting = parsers["ablate"]
    forgetting.add_argument(
        "--layer", type=int, help="the generator layer (0 = the first; with --class, default: the last hidden one)"
    )
    forgetting.add_argument("--channels", type=seed_list, metavar="LIST", help="filters to zero, like 0,5,12")
    forgetting.add_argument(
        "--class",
        dest="class_name",
        help="zero the filters a logistic-regression probe finds for this judge class (the paper's way), "
        "and report the share of the class's samples still judged that class, beside random filters",
    )
    forgetting.add_argument("--seed", type=int, default=0, help="the noise drawn (default 0)")


def _figure_parser(figures, name: str, run, **texts: str) -> argparse.ArgumentParser:
    """A `figure NAME` subcommand with what every figure takes: --model and --out (a .png)."""
    parser = figures.add_parser(name, **texts)
    parser.add_argument("--model", required=True, help="model folder, run directory or Hugging Face Hub id")
    parser.add_argument("--out", required=True, type=png_path, help="output .png")
    parser.set_defaults(run=run)
    return parser


def png_path(text: str) -> Path:
    """--out of a figure: a .png (refused by argparse before any model is loaded)."""
    if Path(text).suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"must end in .png, got {Path(text).name}")
    return Path(text)


def cmd_figure_walk(args: argparse.Namespace) -> int:
    explorer = Explorer.load(args.model, name=str(args.model))
    walk = walk_along(explorer, args.seed, args.along)
    images, caption = strip_images(explorer, walk)
    scale = args.scale or max(1, 128 // explorer.image_size)  # as the app's export: ~128 px a frame
    still = grid_image(images, nrow=STRIP_LENGTH, padding=2, scale=scale)
    metadata = {key: str(value) for key, value in strip_metadata(explorer, walk, caption).items()}
    save_png(still, args.out, metadata)
    print(f"wrote {args.out} ({caption})")
    return 0


def cmd_figure_interpolate(args: argparse.Namespace) -> int:
    if args.steps < 2 or args.rows < 1:
        raise DcganError(f"--steps must be at least 2 and --rows at least 1, got {args.steps} and {args.rows}")
    explorer = Explorer.load(args.model, name=str(args.model))
    interpolation = Interpolation(args.seeds[0], args.seeds[1], args.steps, args.rows)
    images = interpolation_images(explorer, interpolation_paths(explorer, interpolation))
    # One grid: the lerp rows, then the slerp rows; (2 * rows * steps, nc, S, S) in that order.
    every_image = torch.cat([images[method].flatten(0, 1) for method in INTERPOLATION_METHODS])
    still = grid_image(every_image, nrow=args.steps, padding=2, scale=interpolation_export_scale(explorer))
    metadata = {key: str(value) for key, value in interpolation_metadata(explorer, interpolation, "").items()}
    metadata["method"] = f"lerp (rows 1-{args.rows}) above slerp (rows {args.rows + 1}-{2 * args.rows})"
    save_png(still, args.out, metadata)
    print(f"wrote {args.out} ({args.rows} seed pairs x {args.steps} steps: lerp above, slerp below)")
    return 0


def seed_list(text: str) -> list[int]:
    """ "1,2,3" -> [1, 2, 3] (a --a/--b/--c group)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("expected at least one seed")
    return seeds


def cmd_figure_arithmetic(args: argparse.Namespace) -> int:
    if args.measure:
        return measure_face_sums(args)
    missing = [f"--{group.lower()}" for group in ARITHMETIC_GROUPS if getattr(args, group.lower()) is None]
    if missing:
        raise DcganError(f"figure arithmetic needs {', '.join(missing)} (seeds, like 1,2,3), or --measure")
    explorer = Explorer.load(args.model, name=str(args.model))
    seeds = dict(zip(ARITHMETIC_GROUPS, (args.a, args.b, args.c), strict=True))
    images = arithmetic_images(explorer, {group: seeds_z(explorer, seeds[group]) for group in ARITHMETIC_GROUPS})
    # Row 1: the three averages; rows 2-4: the 3x3 neighbourhood, A - B + C on the averages at its top left.
    every_image = torch.cat([images[f"{group} mean"] for group in ARITHMETIC_GROUPS] + [images["neighbourhood"]])
    still = grid_image(every_image, nrow=3, padding=2, scale=args.scale or max(1, 64 // explorer.image_size))
    metadata = {
        "model": explorer.name,
        **{group: ",".join(map(str, seeds[group])) for group in ARITHMETIC_GROUPS},
        "sum": describe_arithmetic({group: len(seeds[group]) for group in ARITHMETIC_GROUPS}),
        "layout": "row 1: the means of A, B, C; rows 2-4: A - B + C on the means (top left) and its 3x3 neighbourhood",
    }
    save_png(still, args.out, metadata)
    print(f"wrote {args.out} ({metadata['sum']})")
    return 0


def measure_face_sums(args: argparse.Namespace) -> int:
    """--measure: the paper's two face sums, each as a table of rates (printed, and in OUT.md) and example
    triples (OUT.png: per sum, 6 rows of A, B, C averaged over 3 exemplars and A − B + C)."""
    explorer = Explorer.load(args.model, name=str(args.model))
    judge = explorer.judge()
    if judge is None or not {"female", "glasses", "smiling"} <= set(judge.config.attributes):
        raise DcganError("--measure needs a model whose judge reads woman, glasses and smile (a faces model)")
    if not 1 <= args.triples <= 10_000:
        raise DcganError(f"--triples must be 1-10000, not {args.triples}")
    tables, examples = [], []
    for paper_sum in PAPER_SUMS:
        rates, counts = measure_sum(
            explorer.generator, judge, paper_sum, triples=args.triples, distribution=explorer.noise
        )
        tables.append(rates_markdown(paper_sum, rates, counts))
        try:
            examples.append(example_results(explorer.generator, judge, paper_sum, count=6, distribution=explorer.noise))
        except DcganError as error:  # the table says so too: no size fits
            print(f"no example triples: {error}")
    if not examples:
        raise DcganError(
            "the model draws too few exemplars of every sum's groups to show one:\n\n" + "\n\n".join(tables)
        )
    text = "\n\n".join(tables)
    scale = args.scale or max(1, 64 // explorer.image_size)
    still = grid_image(torch.cat(examples), nrow=4, padding=2, scale=scale)
    metadata = {
        "model": explorer.name,
        "sums": "; ".join(paper_sum.text for paper_sum in PAPER_SUMS),
        "layout": "per sum, 6 rows: the averages of 3 random exemplars of A, B, C, then A - B + C",
    }
    save_png(still, args.out, metadata)
    atomic_write_text(args.out.with_suffix(".md"), text + "\n")
    print(text)
    print(f"\nwrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


def cmd_figure_inside(args: argparse.Namespace) -> int:
    explorer = Explorer.load(args.model, name=str(args.model))
    source = "upload" if args.image else "generated"
    look = look_inside(explorer, *inside_image(explorer, source, args.seed, args.image))
    large, small = 192, 96  # px: the image and its saliency maps; each channel's overlay
    image = upscaled(to_uint8(look.image)[0], large)
    rows = [[image, gradient_image(look.saliency), gradient_image(look.guided, signed=True)]]
    rows += [[upscaled(overlay, small) for _, overlay in channels[: args.channels]] for channels in look.layers]
    metadata = inside_metadata(explorer, look)
    metadata["layout"] = (
        "row 1: the image, the saliency of D's score, its guided backprop; then one row per D layer: "
        f"its {args.channels} most active channels over the image (red to yellow = stronger)"
    )
    if args.channel:
        channel = look_at_channel(explorer, look.image, *args.channel)
        top = grid_image(channel.top_samples, nrow=3, padding=2, scale=max(1, 64 // explorer.image_size))
        maximised = upscaled(to_uint8(channel.maximised)[0], large)
        guided = [gradient_image(gradient, signed=True) for gradient in (channel.guided, channel.guided_untrained)]
        rows.append([upscaled(channel.overlay, large), *guided, top, maximised])
        metadata["channel"] = f"layer {channel.layer}, channel {channel.channel}"
        metadata["layout"] += (
            "; last row: that channel's activation, its guided backprop, the same for an untrained D of the same "
            "architecture, the 9 of 2,000 samples that excite it most, an input optimised to excite it"
        )
    save_png(rows_image(rows), args.out, {key: str(value) for key, value in metadata.items()})
    print(f"wrote {args.out} (D says {metadata['verdict']} of {look.caption})")
    return 0


def cmd_figure_ablate(args: argparse.Namespace) -> int:
    if (args.channels is None) == (args.class_name is None):
        raise DcganError("say which filters to zero: --channels 0,5,12 or --class NAME (not both)")
    explorer = Explorer.load(args.model, name=str(args.model))
    if args.class_name:
        result = forget_class(explorer, args.class_name, args.layer, seed=args.seed)
        caption, metadata = describe_forgetting(explorer, result), forgetting_metadata(explorer, result)
    else:
        if args.layer is None:
            raise DcganError("--channels needs --layer (which generator layer they are in)")
        result = ablate(explorer, args.layer, args.channels, seed=args.seed)
        caption, metadata = describe_ablation(explorer, result), ablation_metadata(explorer, result)
    scale = max(1, 64 // explorer.image_size)
    grids = [grid_image(images, nrow=4, padding=2, scale=scale) for images in result.intact_ablated_difference()]
    metadata["layout"] = "left: G intact; middle: the same noise with the filters zeroed; right: |left - middle|"
    save_png(rows_image([grids], gap=8), args.out, {key: str(value) for key, value in metadata.items()})
    print(f"wrote {args.out} ({caption})")
    return 0
