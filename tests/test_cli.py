"""The command line, run as a user runs it: in a subprocess, through `python -m dcgan`."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.cli.main import main
from dcgan.data.loading import load_dataset
from dcgan.nets.config import ModelConfig, RunConfig, TrainConfig, format_value
from dcgan.nets.models import Generator
from dcgan.store.checkpoints import load_generator, save_model_folder
from dcgan.training.state import STATE_FILE, load_train_state
from dcgan.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--image-size", "32", "--nz", "8", "--ngf", "8", "--ndf", "8", "--batch-size", "16"]


def dcgan(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "dcgan", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dcgan {args} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
def varied_model(tmp_path):
    """A model folder whose weights are large enough that every z gives a visibly different image
    (a freshly initialised tiny G maps all z to nearly the same grey)."""
    config = ModelConfig(image_size=32, nc=3, nz=8, ngf=8, ndf=8)
    torch.manual_seed(0)
    generator = Generator(config)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.mul_(20)
    return save_model_folder(tmp_path / "varied", generator, RunConfig(config))


@pytest.fixture
def trained_run(tmp_path, idx_folder):
    run = tmp_path / "run"
    assert (
        main(["train", "--data", str(idx_folder), *TINY, "--steps", "6", "--sample-every", "3", "--out", str(run)]) == 0
    )
    return run


def test_train_sample_interpolate_end_to_end(tmp_path, trained_run):
    assert (trained_run / "model.safetensors").is_file() and (trained_run / "progress.gif").is_file()
    first, second = tmp_path / "a.png", tmp_path / "b.png"
    dcgan("sample", "--model", trained_run, "--seed", 5, "--n", 16, "--out", first)
    dcgan("sample", "--model", trained_run, "--seed", 5, "--n", 16, "--out", second)
    assert first.read_bytes() == second.read_bytes()  # same seed, same PNG, byte for byte
    image = Image.open(first)
    assert image.size == (4 * (4 * 34 + 2), 4 * (4 * 34 + 2)) and image.text["seed"] == "5"  # 32 px at 4x: ~128 px
    assert image.text["seed"] == "5"


def test_sample_seeds_give_different_pixels(tmp_path, varied_model):
    grids = []
    for seed in (5, 5, 6):
        out = tmp_path / f"{seed}-{len(grids)}.png"
        assert main(["sample", "--model", str(varied_model), "--seed", str(seed), "--n", "4", "--out", str(out)]) == 0
        grids.append(np.asarray(Image.open(out)))
    assert np.array_equal(grids[0], grids[1]) and not np.array_equal(grids[0], grids[2])


def test_interpolate_writes_strips_and_animations(tmp_path, varied_model):
    strip, gif = tmp_path / "strip.png", tmp_path / "walk.gif"
    assert (
        main(
            [
                "interpolate",
                "--model",
                str(varied_model),
                "--seeds",
                "1",
                "2",
                "--steps",
                "5",
                "--method",
                "lerp",
                "--scale",
                "1",
                "--out",
                str(strip),
            ]
        )
        == 0
    )
    pixels = np.asarray(Image.open(strip))
    assert pixels.shape[:2] == (34 + 2, 5 * 34 + 2)
    cells = [pixels[2:34, 2 + 34 * i : 34 + 34 * i] for i in range(5)]
    assert all(not np.array_equal(a, b) for a, b in zip(cells, cells[1:], strict=False))  # every frame moves
    assert (
        main(["interpolate", "--model", str(varied_model), "--seeds", "1", "2", "--steps", "5", "--out", str(gif)]) == 0
    )
    animation = Image.open(gif)
    assert animation.n_frames == 8 and b"method=slerp" in animation.info["comment"]  # 5 forward, 3 back


def test_resume_from_the_cli(trained_run, capsys):
    assert main(["train", "--resume", str(trained_run), "--steps", "9"]) == 0
    assert load_train_state(trained_run / STATE_FILE).step == 9
    assert "6 -> 9" in capsys.readouterr().out


def test_a_resume_from_the_cli_can_lower_a_learning_rate(trained_run, capsys):
    lr_d = RunConfig.load(trained_run / "config.json").train.lr_d
    assert main(["train", "--resume", str(trained_run), "--steps", "7", "--lr-g", "5e-5"]) == 0
    assert f"learning rates from step 6 on: G 5e-5, D {format_value(lr_d)}" in capsys.readouterr().out
    assert main(["train", "--resume", str(trained_run), "--steps", "8"]) == 0  # no flag: the run's own, now 5e-5
    assert "learning rates" not in capsys.readouterr().out
    train = RunConfig.load(trained_run / "config.json").train
    assert (train.lr_g, train.lr_d) == (5e-5, lr_d)


def test_a_logged_run_prints_plain_progress_lines_and_ends_with_its_result(tmp_path, idx_folder, capsys, monkeypatch):
    from dcgan.cli.main import Progress

    monkeypatch.setattr(Progress, "LOG_EVERY_S", 0.0)  # a line every step (30 s in a real log)
    assert main(["train", "--data", str(idx_folder), *TINY, "--steps", "4", "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("step ") and "img/s" in line] == [
        "1/4",
        "2/4",
        "3/4",
        "4/4",
    ]
    assert lines[-1].startswith("finished 4 steps; model folder: ") and "\r" not in captured.out + captured.err


def test_refuses_to_overwrite_a_run(trained_run, idx_folder, capsys):
    assert main(["train", "--data", str(idx_folder), *TINY, "--steps", "2", "--out", str(trained_run)]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args,message",
    [
        (["sample", "--model", "/no/such/model", "--out", "x.png"], "no model folder"),
        (["train", "--data", "/no/such/folder", "--steps", "1"], "no such folder"),
        (["train", "--data", "fashion-mnist", "--image-size", "48", "--steps", "1"], "32, 64, 128"),
        (["train", "--data", "fashion-mnist"], "--epochs N or --steps N"),
        (["interpolate", "--model", "/no/such", "--seeds", "1", "2", "--out", "x.png"], "no model folder"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_interpolate_rejects_unknown_extensions(trained_run, tmp_path, capsys):
    assert (
        main(["interpolate", "--model", str(trained_run), "--seeds", "1", "2", "--out", str(tmp_path / "x.jpg")]) == 2
    )
    assert ".png" in capsys.readouterr().err


def test_help_shows_the_defaults():
    text = " ".join(dcgan("sample", "--help").stdout.split())  # argparse wraps lines
    assert "(default: 64)" in text and "(default: 0)" in text  # --n and --seed
    text = " ".join(dcgan("train", "--help").stdout.split())
    assert "(default: 128)" in text and "(default: True)" not in text and "(default: None)" not in text


@pytest.mark.parametrize("command", ["train", "sample", "interpolate", "import", "eval", "publish"])
def test_help_explains_every_flag(command):
    from dcgan.cli.main import build_parser

    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    actions = [a for a in subparsers.choices[command]._actions if a.dest != "help"]
    assert actions and all(a.help for a in actions), [a.dest for a in actions if not a.help]
    text = dcgan(command, "--help").stdout  # and --help prints them
    assert all(a.option_strings[0] in text for a in actions if a.option_strings)


@pytest.mark.slow
def test_sigkill_at_any_moment_resumes_exactly(tmp_path, idx_folder):
    """Kill the trainer while it writes checkpoints, many times; every time the run resumes,
    and the final weights equal an uninterrupted run's."""
    steps = 30
    args = [
        "train",
        "--data",
        str(idx_folder),
        *TINY,
        "--steps",
        str(steps),
        "--checkpoint-every",
        "1",
        "--sample-every",
        "1000",
    ]
    run = tmp_path / "killed"
    kills = 0
    for attempt in range(6):
        extra = ["--out", str(run)] if attempt == 0 else ["--resume", str(run)]
        process = subprocess.Popen(
            [sys.executable, "-m", "dcgan", *args, *extra]
            if attempt == 0
            else [sys.executable, "-m", "dcgan", "train", *extra, "--steps", str(steps)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 120
        # Wait until a checkpoint is being written (its temp file exists), then kill mid-write.
        while time.time() < deadline and process.poll() is None:
            if list(run.glob(".*.tmp")) and (run / STATE_FILE).exists():
                os.kill(process.pid, signal.SIGKILL)
                kills += 1
                break
            time.sleep(0.0005)
        process.wait(timeout=60)
        if process.returncode == 0:
            break
        state = load_train_state(run / STATE_FILE)  # never corrupt
        assert 0 < state.step <= steps
        load_generator(run)  # the published model is readable too
    else:
        subprocess.run(
            [sys.executable, "-m", "dcgan", "train", "--resume", str(run), "--steps", str(steps)],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    assert kills >= 3
    assert load_train_state(run / STATE_FILE).step == steps

    model = ModelConfig(image_size=32, nc=1, nz=8, ngf=8, ndf=8)
    train = TrainConfig(data=str(idx_folder), steps=steps, batch_size=16, checkpoint_every=1, sample_every=1000)
    reference = Trainer(model, train, tmp_path / "straight", dataset=load_dataset(str(idx_folder), 32, channels=1))
    list(reference.run())
    resumed = load_train_state(run / STATE_FILE)
    for name, tensor in reference.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator[name]), name
    for name, tensor in reference.discriminator.state_dict().items():
        assert torch.equal(tensor, resumed.discriminator[name]), name


def test_ctrl_c_stops_at_a_step_and_writes_a_checkpoint(tmp_path, idx_folder):
    """SIGINT mid-run: the trainer finishes its step, checkpoints there (not at the last periodic
    checkpoint) and exits cleanly; the run then resumes from that step."""
    run = tmp_path / "interrupted"
    args = ["train", "--data", str(idx_folder), *TINY, "--steps", "100000", "--checkpoint-every", "100000"]
    process = subprocess.Popen(
        [sys.executable, "-m", "dcgan", *args, "--sample-every", "100000", "--out", str(run)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "metrics.jsonl").is_file():
        time.sleep(0.05)
    time.sleep(1.0)  # a few steps in
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "SIGINT: stopping after this step" in out and "stopped" in out
    step = load_train_state(run / STATE_FILE).step
    assert 0 < step < 100000  # the checkpoint is the interrupted step, not a periodic one
    assert dcgan("train", "--resume", run, "--steps", step + 2).returncode == 0
    assert load_train_state(run / STATE_FILE).step == step + 2


def test_publish_makes_a_model_folder_with_card_and_assets(trained_run, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("Trained on blobs for a test.")
    out = tmp_path / "checkpoints" / "blobs"
    result = dcgan("publish", trained_run, out, "--title", "Blobs", "--notes", notes, "--assets", tmp_path / "assets")
    assert "published" in result.stdout
    card = (out / "README.md").read_text()
    assert card.startswith("# Blobs") and "Trained on blobs for a test." in card and "steps: 6" in card
    assert Image.open(tmp_path / "assets" / "blobs" / "samples.png").size[0] >= 256
    load_generator(out)
