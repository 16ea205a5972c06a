"""Publishing a training run as a shipped model: folder, sample grid, progress GIF, model card.

`python -m dcgan publish RUN_DIR checkpoints/NAME --eval eval.json` copies the generator (and
discriminator) with config.json, draws a sample grid, copies the progress GIF into assets/NAME/,
and writes README.md from what the run recorded: nothing in the card is typed by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from PIL import Image

from dcgan.data.registry import uses_judge
from dcgan.errors import DcganError
from dcgan.images import grid_image, save_gif, save_png
from dcgan.nets.config import UNSTATED, Knob, RunConfig, differs_from_paper, family_default, format_value, knobs
from dcgan.nets.config_flags import flag_name
from dcgan.nets.latent import generate, sample_noise
from dcgan.quality.metrics import attribute_table, table_rows
from dcgan.store.checkpoints import load_generator
from dcgan.store.model_files import CONFIG_FILE, DISCRIMINATOR_FILE, GENERATOR_FILE
from dcgan.training.run_writer import SNAPSHOTS

# Their CLI defaults depend on the data, so a command that reproduces a run always states them.
ALWAYS_IN_COMMAND = {"data", "image_size", "nc"}


def _settings(run_config: RunConfig) -> list[tuple[Knob, object, object]]:
    """(knob, value, the value it takes when left unset) of every exposed setting, model first."""
    family = run_config.model.family
    rows = []
    for config in (run_config.model, run_config.train):
        if config is not None:
            rows += [(knob, getattr(config, knob.name), family_default(knob, family)) for knob in knobs(type(config))]
    return rows


def train_command(run_config: RunConfig) -> str:
    """The `python -m dcgan train` command that reproduces this run (flags that differ from defaults)."""
    if run_config.train is None:
        raise DcganError("this model has no training section in config.json (imported?)")
    parts = ["python -m dcgan train"]
    for knob, value, default in _settings(run_config):
        if not knob.in_command or value is None or (value == default and knob.name not in ALWAYS_IN_COMMAND):
            continue
        # a bool that differs from its default is its flag alone (--no-amp, --augment)
        parts.append(flag_name(knob) if isinstance(value, bool) else f"{flag_name(knob)} {value}")
    return " ".join(parts)


def settings_table(run_config: RunConfig) -> str:
    """Markdown: the paper's recipe beside this run's values, and every other setting this run changed."""
    rows = ["| setting | this model | the paper | what it does |", "|---|---|---|---|"]
    for knob, value, default in _settings(run_config):
        if knob.paper is UNSTATED and value == default:
            continue
        paper = "" if knob.paper is UNSTATED else format_value(knob.paper)
        shown = f"**{format_value(value)}**" if differs_from_paper(knob, value) else format_value(value)
        what = knob.help.replace("|", "/")  # a pipe would end the cell
        rows.append(f"| {knob.label} | {shown} | {paper} | {what} |")
    return "\n".join(rows)


def run_summary(run_dir: Path, up_to: int | None = None) -> dict[str, float]:
    """Steps, training seconds and the last logged losses, from metrics.jsonl (to step `up_to`, if given)."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return {}
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [line for line in lines if up_to is None or line["step"] <= up_to]
    if not lines:
        return {}
    last = lines[-1]
    tail = lines[-100:]  # losses are noisy: average the last 100 steps
    summary = {"steps": last["step"], "epochs": last.get("epoch", 0)}
    if "elapsed_s" in last:
        summary["train_seconds"] = last["elapsed_s"]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "images_per_s"):
        summary[key] = sum(line[key] for line in tail) / len(tail)
    return summary


def snapshot_of(folder: Path) -> tuple[Path, int | None]:
    """(the run, the step) for a model kept by --keep-every (RUN/snapshots/step-N); (folder, None) otherwise."""
    match = re.fullmatch(r"step-(\d+)", folder.name)
    if match and folder.parent.name == SNAPSHOTS:
        return folder.parent.parent, int(match.group(1))
    return folder, None


def publish(
    run_dir: str | Path,
    out_dir: str | Path,
    title: str,
    eval_json: str | Path | None = None,
    assets_dir: str | Path | None = "assets",
    notes: str = "",
    train_seconds: float | None = None,
    hub_id: str | None = None,
) -> Path:
    """Copy a run's model into `out_dir`, write assets and the model card; returns out_dir.

    Assets go to `assets_dir`/NAME (this repository's habit), or into `out_dir` itself when
    `assets_dir` is None (a folder published alone, e.g. to the Hub as `hub_id`).
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    run, step = snapshot_of(run_dir)  # a kept snapshot: its run's record, up to its step
    assets = out_dir if assets_dir is None else Path(assets_dir) / out_dir.name
    run_config = RunConfig.load(run_dir / CONFIG_FILE)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, GENERATOR_FILE, DISCRIMINATOR_FILE):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, out_dir / name)
    generator = load_generator(out_dir, device="cpu")
    assets.mkdir(parents=True, exist_ok=True)
    images = generate(generator, sample_noise(64, run_config.model.nz, run_config.model.noise, seed=0))
    scale = max(1, 256 // run_config.model.image_size)
    save_png(
        grid_image(images, nrow=8, scale=scale), assets / "samples.png", {"model": out_dir.name, "seed": "0", "n": "64"}
    )
    grids = sorted(run.glob("samples/step_*.png"))
    if step is not None and grids:  # the run's fixed-noise grids up to the snapshot's step
        frames = [grid for grid in grids if int(grid.stem.split("_")[1]) <= step]
        save_gif([Image.open(frame).convert("RGB") for frame in frames], assets / "progress.gif", frame_ms=150)
    elif (run_dir / "progress.gif").is_file():
        shutil.copyfile(run_dir / "progress.gif", assets / "progress.gif")
    metrics = json.loads(Path(eval_json).read_text()) if eval_json else None
    if run_config.train is None and (run_dir / "README.md").is_file():
        # An imported model: its import card (source file, sha256, spec) goes along, headings one level down.
        imported = re.sub(r"^#", "###", (run_dir / "README.md").read_text(errors="replace"), flags=re.MULTILINE)
        notes = "\n\n".join(part for part in (notes.strip(), imported.strip()) if part)
    summary = run_summary(run, up_to=step)
    if train_seconds is not None:
        summary["train_seconds"] = train_seconds
    card = model_card(title, run_config, summary, metrics, out_dir, assets, notes, hub_id)
    (out_dir / "README.md").write_text(card)
    return out_dir


def model_card(
    title: str,
    run_config: RunConfig,
    summary: dict,
    metrics: dict | None,
    out_dir: Path,
    assets: Path,
    notes: str,
    hub_id: str | None = None,
) -> str:
    model, train = run_config.model, run_config.train
    parameters = sum(p.numel() for p in load_generator(out_dir, device="cpu").parameters())
    relative_assets = Path(os.path.relpath(assets, out_dir))  # links work from where the card is read
    lines = [
        f"# {title}",
        "",
        f"A DCGAN generator ({model.family} family) making {model.image_size}x{model.image_size}x{model.nc} images "
        f"from z of {model.nz} dims ({model.noise} noise); {parameters:,} generator parameters.",
        "",
        "```python",
        "from dcgan import Generator",
        f'generator = Generator.from_pretrained("{hub_id or out_dir.as_posix()}")',
        "```",
        "",
        "## Training",
        "",
        f"- data: `{train.data if train else 'imported'}`"
        + (f" (first {train.limit} images)" if train and train.limit else ""),
        f"- command: `{train_command(run_config)}`" if train else "- imported from another project",
    ]
    if summary:
        hours = summary.get("train_seconds", 0) / 3600
        lines += [
            f"- steps: {summary['steps']:,} (epochs: {summary['epochs']}), batch {train.batch_size}",
            f"- training time: {hours:.2f} h on this project's 2-core CPU machine (no GPU)"
            if "train_seconds" in summary
            else "- training time: not recorded",
            f"- last 100 steps: loss_D {summary['loss_d']:.3f}, loss_G {summary['loss_g']:.3f}, "
            f"D(x) {summary['d_real']:.2f}, D(G(z)) {summary['d_fake']:.2f}, {summary['images_per_s']:.0f} images/s",
        ]
    lines += ["", "## Settings", "", "Values in bold differ from the paper's.", "", settings_table(run_config)]
    lines += ["", "## Samples", "", f"![64 samples, seed 0]({(relative_assets / 'samples.png').as_posix()})", ""]
    if (assets / "progress.gif").is_file():
        lines += [f"![the fixed-noise grid through training]({(relative_assets / 'progress.gif').as_posix()})", ""]
    if metrics:
        lines += ["## Metrics", "", metrics_table(metrics), ""]
    if notes:
        lines += ["## Notes", "", notes.strip(), ""]
    return "\n".join(lines)


def features_flag(metrics: dict) -> str:
    """The eval's --features, when "auto" would not choose the same space for this data (faces: the judge)."""
    kind = str(metrics["features"]).split("-")[0]  # "judge-<hash>" or "random-<hash>"
    auto = "judge" if uses_judge(str(metrics["data"])) else "random"
    return f" --features {kind}" if kind in ("judge", "random") and kind != auto else ""


def metrics_table(metrics: dict) -> str:
    """Markdown of a `dcgan eval` JSON: the model's numbers beside the real-vs-real floor, and how they were made."""
    rows = [
        f"| metric | this model (n={metrics['n']}) | real vs real (n={metrics['floor']['n_real']}) |",
        "|---|---|---|",
    ]
    rows += [f"| {name} | {model} | {floor} |" for name, model, floor in table_rows(metrics)]
    rows += [
        "",
        f"Measured on `{metrics['data']}` ({metrics['split']}; {metrics['n_real_test']} held-out images), "
        f"features `{metrics['features']}`, seed {metrics['seed']}, {metrics['seconds']:.0f} s: "
        f"`python -m dcgan eval --model {metrics['model']} --n {metrics['n']} --seed {metrics['seed']}"
        f"{features_flag(metrics)}`.",
    ]
    coverage = metrics.get("class_coverage")
    if coverage:
        shares = ", ".join(f"{c} {f:.1%}" for c, f in zip(coverage["classes"], coverage["fractions"], strict=True))
        rows += ["", f"Class shares of the samples (the judge's predictions): {shares}."]
    attributes = metrics.get("attribute_shares")
    if attributes:
        rows += ["", "Attributes, as the data's judge reads them (probability > 0.5):", ""]
        rows += attribute_table(attributes, markdown=True)
    if not metrics["features"].startswith("judge"):
        rows += [
            "",
            "Random-network features: these numbers compare runs on this data with each other, not with papers.",
        ]
    return "\n".join(rows)
