"""The command line: python -m dcgan train | sample | interpolate | import | eval | publish | figure.

Each subcommand is a thin wrapper over library calls; errors a user can cause print one
line and exit with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path

from tqdm import tqdm

from dcgan.cli.figures import add_figure_commands

# `datasets.load_dataset` is looked up when called (not bound here) so a test can stub the data.
from dcgan.data import loading as datasets
from dcgan.data.dataset import ImageDataset
from dcgan.data.registry import is_registered_dataset
from dcgan.errors import DcganError
from dcgan.images import grid_image, save_gif, save_png, to_pil, to_uint8
from dcgan.interop.convert import ACTIVATIONS, NOISES, ImportOptions, import_model
from dcgan.io_utils import atomic_write_text, disk_full
from dcgan.nets.config import ModelConfig, TrainConfig, format_value
from dcgan.nets.config_flags import add_config_flags, config_values, resume_changes
from dcgan.nets.latent import generate, interpolate, sample_noise
from dcgan.nets.limits import DENSE_ACTIVATIONS
from dcgan.quality.metrics import evaluate, format_table
from dcgan.store.checkpoints import load_generator
from dcgan.store.hub import push_to_hub
from dcgan.store.model_files import load_run_config
from dcgan.training import distributed
from dcgan.training.cards import publish
from dcgan.training.trainer import Trainer


def _add_train_args(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser)  # one per config field, from its declaration in dcgan/nets/config.py
    parser.add_argument("--out", type=Path, help="run directory (default: runs/<data>-<time>)")
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue this run from its last checkpoint (--epochs/--steps raise its total)",
    )


def _configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig, ImageDataset]:
    if args.epochs is None and args.steps is None:
        raise DcganError("say how long to train: --epochs N or --steps N")
    model_values = config_values(ModelConfig, args)
    if args.image_size is None and args.family == "paper":
        model_values["image_size"] = datasets.dataset_spec(args.data).image_size  # the registry's: 32 for mnist
    # nc: a placeholder until the data is loaded; validated before that (slow) load
    model = ModelConfig(**{"nc": 1} | model_values)
    # Loaded here so that, without --channels, the model gets the data's own channel count.
    dataset = datasets.load_dataset(args.data, model.image_size, channels=args.nc, limit=args.limit)
    model = dataclasses.replace(model, nc=dataset.images.shape[1])
    return model, TrainConfig(**config_values(TrainConfig, args)), dataset


def cmd_train(args: argparse.Namespace) -> int:
    """Train in this process, or, launched by torchrun, as one rank of a DDP job (rank 0 reports)."""
    place = distributed.start(args.device.split(":")[0] if args.device else None)
    try:
        code = _train(args, place)
    finally:
        distributed.stop()
    if place is not None:
        distributed.leave(code)
    return code


def _train(args: argparse.Namespace, place: distributed.Distributed | None) -> int:
    if args.resume:
        changes = resume_changes(args)
        trainer = Trainer.from_run(
            args.resume,
            epochs=args.epochs,
            steps=args.steps,
            place=place,
            **changes,
        )
        if "lr_g" in changes or "lr_d" in changes:
            rates = f"G {format_value(trainer.config.lr_g)}, D {format_value(trainer.config.lr_d)}"
            print(f"learning rates from step {trainer.step} on: {rates}", flush=True)
    else:
        model, train, dataset = _configs_from_args(args)
        name = args.data if is_registered_dataset(args.data) else Path(args.data).name
        out = args.out or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        if (out / "training_state.safetensors").exists():
            raise DcganError(f"{out} already holds a run: pick another --out, or continue it with --resume {out}")
        if place is not None and args.out is None:
            raise DcganError("under torchrun, name the run directory with --out (every process must use the same)")
        trainer = Trainer(model, train, out, dataset=dataset, place=place)
    if place is not None and not place.is_main:
        return _follow_quietly(trainer)  # only rank 0 reports; the others train and print only errors
    processes = f"  processes: {place.world_size} x batch {trainer.per_rank_batch}" if place else ""
    print(
        f"run directory: {trainer.run_dir}  device: {trainer.device}  threads: {trainer.threads}  "
        f"images: {len(trainer.dataset)}  steps: {trainer.step} -> {trainer.total_steps}{processes}",
        flush=True,
    )
    progress = Progress(trainer.step, trainer.total_steps)
    status = 0
    previous_handlers = _stop_on_signals(trainer, progress.write)
    try:
        for event in trainer.run():
            if event.kind == "step":
                progress.step(event)
            elif event.kind in ("epoch", "checkpoint") and event.path:
                progress.write(f"step {event.step}: {event.kind} -> {event.path}")
            elif event.kind == "diverged":
                progress.write(f"error: {event.message}")
                status = 1
            elif event.kind in ("done", "stopped"):
                progress.close()  # the bar's last state first: the run's last words come after it
                gif = f"; progress: {event.path}" if event.path else ""
                print(f"{event.message}; model folder: {trainer.run_dir}{gif}", flush=True)
    except KeyboardInterrupt:
        progress.write("interrupted: the last checkpoint is kept; continue with --resume " + str(trainer.run_dir))
        status = 130
    finally:
        progress.close()
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
    return status


class Progress:
    """A training run's progress: tqdm's bar on a terminal; in a log file (nohup) a plain line every
    LOG_EVERY_S seconds, since a bar redrawn with carriage returns mixes into the other lines there."""

    LOG_EVERY_S = 30.0

    def __init__(self, step: int, total: int) -> None:
        self.total = total
        self.bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True) if sys.stderr.isatty() else None
        self.logged_at = time.monotonic()

    def step(self, event) -> None:
        m = event.metrics
        numbers = (
            f"D {m['loss_d']:.3f} G {m['loss_g']:.3f} D(x) {m['d_real']:.2f} D(G(z)) {m['d_fake']:.2f} "
            f"{m['images_per_s']:.0f} img/s"
        )
        if self.bar is not None:
            self.bar.update(event.step - self.bar.n)
            self.bar.set_postfix_str(numbers, refresh=False)
        elif time.monotonic() - self.logged_at >= self.LOG_EVERY_S:
            self.logged_at = time.monotonic()
            self.write(f"step {event.step}/{self.total}  {numbers}  {m['eta_s'] / 60:.0f} min left")

    def write(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _follow_quietly(trainer) -> int:
    """A rank other than 0: train in step with the others, print nothing but errors."""
    status = 0
    previous_handlers = _stop_on_signals(trainer, lambda message: None)
    try:
        for event in trainer.run():
            if event.kind == "diverged":
                status = 1
    finally:
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
    return status


def _stop_on_signals(trainer, write) -> dict:
    """Ctrl-C or SIGTERM asks the trainer to stop at the end of the step, writing a checkpoint;
    a second Ctrl-C interrupts at once (the last checkpoint is still safe: writes are atomic)."""

    def request_stop(number, frame):
        if trainer.stop_requested:
            raise KeyboardInterrupt
        write(f"{signal.Signals(number).name}: stopping after this step and writing a checkpoint (again: quit now)")
        trainer.stop()

    previous = {}
    for number in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[number] = signal.signal(number, request_stop)
        except ValueError:  # not the main thread (e.g. called from a test's worker thread)
            pass
    return previous


def cmd_sample(args: argparse.Namespace) -> int:
    generator = load_generator(args.model, device=args.device)
    z = sample_noise(args.n, generator.config.nz, generator.config.noise, seed=args.seed)
    image = grid_image(generate(generator, z), nrow=args.nrow, scale=args.scale or default_scale(generator))
    save_png(image, args.out, {"model": str(args.model), "seed": str(args.seed), "n": str(args.n)})
    print(f"wrote {args.out} ({args.n} samples, seed {args.seed})")
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    generator = load_generator(args.model, device=args.device)
    nz, noise = generator.config.nz, generator.config.noise
    start, end = (sample_noise(1, nz, noise, seed=seed)[0] for seed in args.seeds)
    images = generate(generator, interpolate(start, end, args.steps, args.method))
    metadata = {
        "model": str(args.model),
        "seeds": f"{args.seeds[0]} {args.seeds[1]}",
        "method": args.method,
        "steps": str(args.steps),
    }
    out = Path(args.out)
    scale = args.scale or default_scale(generator)
    if out.suffix.lower() == ".gif":
        frames = [to_pil(frame, scale=scale) for frame in to_uint8(images)]
        save_gif(frames, out, frame_ms=args.frame_ms, metadata=metadata, bounce=True)
    elif out.suffix.lower() == ".png":
        save_png(grid_image(images, nrow=args.steps, scale=scale), out, metadata)
    else:
        raise DcganError(f"--out must end in .png (a strip) or .gif (an animation), got {out.name}")
    print(f"wrote {out} ({args.steps} frames, {args.method}, seeds {args.seeds[0]} -> {args.seeds[1]})")
    return 0


def default_scale(generator) -> int:
    """The upscale that shows one image at about DEFAULT_PIXELS px: 4 at 32 px, 2 at 64 px."""
    return max(1, DEFAULT_PIXELS // generator.config.image_size)


def cmd_import(args: argparse.Namespace) -> int:
    options = ImportOptions(
        args.layers, args.dense_activation, args.activation, args.noise, args.image_size, args.leaky_slope
    )
    report = import_model(args.source, args.out_dir, options)
    print(f"imported {args.source} -> {report.folder} (load it with --model {report.folder})")
    print(f"layers: --layers {report.spec}   sha256 of the source: {report.sha256}")
    # Defaults the weights cannot confirm, said once so that a wrong one is noticed.
    print(f"not in the weights: --activation {options.activation} --noise {options.noise} (the card records them)")
    print(f"preview: {report.preview} ({report.health.describe()})")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    _, run_config = load_run_config(args.model)
    data = args.data or (run_config.train.data if run_config.train else "fashion-mnist")
    result = evaluate(
        load_generator(args.model, device="cpu"),
        data=data,
        n=args.n,
        seed=args.seed,
        features=args.features,
        cache=not args.no_cache,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    result["model"] = str(args.model)
    print(format_table(result), flush=True)
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    notes = Path(args.notes).read_text() if args.notes else ""
    # Pushed alone, the folder holds its images; in this repository they go under assets/NAME.
    assets = args.assets or (None if args.push_to_hub else Path("assets"))
    title = args.title or args.out.name
    out = publish(
        args.run_dir, args.out, title, eval_json=args.eval, assets_dir=assets, notes=notes, hub_id=args.push_to_hub
    )
    images = out if assets is None else Path(assets) / out.name
    print(f"published {args.run_dir} -> {out} (card: {out / 'README.md'}; images: {images})")
    if args.push_to_hub:
        url = push_to_hub(out, args.push_to_hub, private=args.private)
        visibility = "private" if args.private else "public"
        print(f"pushed {out} to {url} ({visibility}); load it with --model {args.push_to_hub}")
    return 0


class ShowDefaults(argparse.HelpFormatter):
    """--help gives each flag's default, unless it has none, is a switch, or its help already says."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        switch = action.default is False or action.default is True  # "--augment", "--no-amp": the help says it
        unset = action.default is None or switch or action.default == argparse.SUPPRESS
        if not action.option_strings or unset or "default" in text:
            return text
        return text + " (default: %(default)s)"


def SubcommandParser(**options) -> argparse.ArgumentParser:  # noqa: N802 (argparse calls it like a class)
    return argparse.ArgumentParser(formatter_class=ShowDefaults, **options)


DEFAULT_PIXELS = 128  # sample and interpolate upscale each image to about this many pixels (crisp)


def _add_sample_command(commands: argparse._SubParsersAction) -> None:
    """`dcgan sample`: a grid of samples."""
    sample = commands.add_parser("sample", help="a grid of samples", description="Write a grid of generated samples.")
    sample.add_argument(
        "--model", required=True, help="model folder, run directory or Hugging Face Hub id (owner/name)"
    )
    sample.add_argument("--seed", type=int, default=0, help="the same seed gives the same PNG, byte for byte")
    sample.add_argument("--n", type=int, default=64, help="number of samples")
    sample.add_argument("--nrow", type=int, help="samples per row (default: a square)")
    sample.add_argument(
        "--scale", type=int, help=f"upscale each pixel to scale x scale, crisp (default: ~{DEFAULT_PIXELS} px an image)"
    )
    sample.add_argument("--out", required=True, type=Path, help="output .png")
    sample.add_argument("--device", help="cpu or cuda (default: CUDA when available)")
    sample.set_defaults(run=cmd_sample)


def _add_interpolate_command(commands: argparse._SubParsersAction) -> None:
    """`dcgan interpolate`: a strip or GIF between two seeds."""
    inter = commands.add_parser(
        "interpolate", help="walk between two seeds", description="Images along a path between the z of two seeds."
    )
    inter.add_argument("--model", required=True, help="model folder, run directory or Hugging Face Hub id")
    inter.add_argument("--seeds", type=int, nargs=2, required=True, metavar=("A", "B"), help="start and end seeds")
    inter.add_argument("--steps", type=int, default=9, help="frames including both ends")
    inter.add_argument(
        "--method",
        choices=["lerp", "slerp"],
        default="slerp",
        help="lerp: straight line; slerp: great circle (keeps Gaussian z at a typical norm)",
    )
    inter.add_argument("--out", required=True, help="a .png strip or a .gif animation")
    inter.add_argument(
        "--scale", type=int, help=f"upscale each pixel to scale x scale, crisp (default: ~{DEFAULT_PIXELS} px an image)"
    )
    inter.add_argument("--frame-ms", type=int, default=120, help="GIF frame duration")
    inter.add_argument("--device", help="cpu or cuda")
    inter.set_defaults(run=cmd_interpolate)


def _add_import_command(commands: argparse._SubParsersAction) -> None:
    """`dcgan import`: another project's generator as a model folder."""
    imp = commands.add_parser(
        "import",
        help="import another project's generator .pth",
        description="Convert a PyTorch DCGAN generator state dict (ConvTranspose2d layers, optionally after a "
        "dense layer) into a model folder with a preview and a card. What the weights cannot say, say with the "
        "flags; when they leave a choice open, the import stops and lists what fits.",
    )
    imp.add_argument("source", help="a .pth/.pt state dict (pytorch/examples, the tutorial, courses) or .safetensors")
    imp.add_argument("out_dir", help="the model folder to write")
    imp.add_argument(
        "--layers",
        metavar="SPEC",
        help="each ConvTranspose2d's kernel, stride, padding and optional output_padding as in the original, "
        "comma-separated: k4s1p0,k4s2p1,k5s2p2o1 (default: the standard DCGAN layout, when exactly one fits)",
    )
    imp.add_argument(
        "--dense-activation",
        choices=DENSE_ACTIVATIONS,
        help="what follows a dense first layer (Linear, then reshape) in the original; needed when there is one",
    )
    imp.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default="relu",
        help="the ConvTranspose2d layers' (leakyrelu: see --leaky-slope)",
    )
    imp.add_argument(
        "--noise", choices=NOISES, default="normal", help="the z distribution the original was trained with"
    )
    imp.add_argument("--image-size", type=int, help="the original's image size, when the layers leave it open")
    imp.add_argument(
        "--leaky-slope",
        type=float,
        default=0.2,
        help="the original's LeakyReLU slope (nn.LeakyReLU() is 0.01, Keras' LeakyReLU() 0.3)",
    )
    imp.set_defaults(run=cmd_import)


def _add_eval_command(commands: argparse._SubParsersAction) -> None:
    """`dcgan eval`: the metrics beside the real-vs-real floor."""
    evaluation = commands.add_parser(
        "eval",
        help="FID, KID, precision/recall, coverage, memorisation",
        description="Measure a generator against held-out real images, beside the real-vs-real floor.",
    )
    evaluation.add_argument("--model", required=True, help="model folder, run directory or Hugging Face Hub id")
    evaluation.add_argument(
        "--data", help="fashion-mnist, mnist, or a folder (default: the data the model was trained on)"
    )
    evaluation.add_argument("--n", type=int, default=10000, help="generated samples (and real images for the floor)")
    evaluation.add_argument("--seed", type=int, default=0, help="seeds the samples and every random subset")
    evaluation.add_argument(
        "--features",
        choices=["auto", "judge", "random"],
        default="auto",
        help="feature space: the data's judge (faces: faces-judge; else the Fashion-MNIST one), a fixed random CNN, "
        "or auto (judge for fashion-mnist only)",
    )
    evaluation.add_argument("--out", type=Path, help="also write the numbers as JSON here")
    evaluation.add_argument("--no-cache", action="store_true", help="recompute the real-data side even if cached")
    evaluation.set_defaults(run=cmd_eval)


def _add_publish_command(commands: argparse._SubParsersAction) -> None:
    """`dcgan publish`: a run as a model folder (and on the Hub)."""
    pub = commands.add_parser(
        "publish",
        help="make a training run a model folder (and push it to the Hugging Face Hub)",
        description="Copy a run's weights and config into OUT, draw assets/NAME/samples.png, copy the progress "
        "GIF and write OUT/README.md from what the run recorded (and the eval JSON, if given). With --push-to-hub, "
        "the images go into OUT and OUT is uploaded to that Hub model repo.",
    )
    pub.add_argument("run_dir", metavar="RUN", type=Path, help="the training run directory")
    pub.add_argument("out", type=Path, help="the model folder to write, e.g. checkpoints/fashion-mnist-32")
    pub.add_argument("--title", help="the card's heading (default: OUT's name)")
    pub.add_argument("--eval", type=Path, help="a `dcgan eval --out` JSON to put in the card")
    pub.add_argument("--notes", type=Path, help="a markdown file appended to the card as its Notes section")
    pub.add_argument(
        "--assets",
        type=Path,
        help="the folder whose NAME/ gets the sample grid and GIF (default: assets; with --push-to-hub: OUT itself)",
    )
    pub.add_argument(
        "--push-to-hub",
        metavar="OWNER/NAME",
        help="then upload OUT to this Hugging Face Hub model repo (your `hf auth login`, or HF_TOKEN)",
    )
    pub.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    pub.set_defaults(run=cmd_publish)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dcgan", description="Train, sample and explore DCGANs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=SubcommandParser)

    train = commands.add_parser(
        "train", help="train a DCGAN (or --resume one)", description="Train a DCGAN into a run directory."
    )
    _add_train_args(train)
    train.set_defaults(run=cmd_train)

    for add_command in (
        _add_sample_command,
        _add_interpolate_command,
        _add_import_command,
        _add_eval_command,
        _add_publish_command,
    ):
        add_command(commands)
    add_figure_commands(commands, SubcommandParser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except DcganError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a sample grid or metrics line (not written atomically) on a full disk
        full = disk_full(error, Path(error.filename or "a file"))
        if full is None:
            raise
        print(f"error: {full}", file=sys.stderr)
        return 2
