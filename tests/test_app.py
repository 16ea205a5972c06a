"""The app's endpoints, called through gradio_client against the app launched on 127.0.0.1.

One app (with a tiny model the test makes) serves the whole module; each test opens its own
client, i.e. its own visitor session.
"""

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import parse_qsl
from urllib.request import urlopen

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from browser.app_server import running_app, tiny_model_folder  # noqa: E402

from dcgan.ui.session import VisitorState, apply_query, decode_z, encode_z, query_string  # noqa: E402


@pytest.fixture(scope="module")
def app_root(tmp_path_factory):
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def app_url(app_root):
    with running_app(app_root) as url:
        yield url


@pytest.fixture
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_a_seed_is_one_image(client):
    first = client.predict(5, api_name="/walk_seed")
    again = client.predict(5, api_name="/walk_seed")
    other = client.predict(6, api_name="/walk_seed")
    assert first[0] == 5 and "seed 5" in first[2]
    assert np.array_equal(pixels(first[1]), pixels(again[1]))
    assert not np.array_equal(pixels(first[1]), pixels(other[1]))
    assert pixels(first[1]).shape == (256, 256)  # 32x32 shown 8x larger, nearest-neighbour
    assert "seed=5" in first[-1] and "model=tiny-fashion" in first[-1]


def test_sliders_move_the_image_and_reset_brings_it_back(client):
    start = pixels(client.predict(5, api_name="/walk_seed")[1])
    moved, query = client.predict(2.5, api_name="/walk_dim_0")
    assert not np.array_equal(pixels(moved), start)
    assert ":2.50" in query  # the slider's value is in the shareable URL
    along, query = client.predict(2.0, api_name="/walk_direction_0")
    assert not np.array_equal(pixels(along), pixels(moved))
    assert "k=0:2.00" in query
    assert np.array_equal(pixels(client.predict(api_name="/walk_reset")[1]), start)


def test_walk_preview_route_draws_what_the_slider_event_draws(client, app_url):
    """The page's fast path (dcgan/ui/walk.py): GET walk-preview.png with the page's query + the move."""
    before_move = client.predict(5, api_name="/walk_seed")[-1]
    moved, after_move = client.predict(2.5, api_name="/walk_dim_0")
    with urlopen(f"{app_url}walk-preview.png?{before_move}&move=dim:0:2.5") as response:
        assert response.headers["Content-Type"] == "image/png"
        assert response.headers["X-Query"] == after_move  # the page's URL follows at once
        assert np.array_equal(pixels(io.BytesIO(response.read())), pixels(moved))
    bad_queries = [
        ("move=dim:0:x", "could not convert"),
        ("move=up", "dim:SLOT:VALUE"),
        ("model=nope&move=dim:0:1", "nope"),
    ]
    for bad, message in bad_queries:
        with pytest.raises(HTTPError) as error:
            urlopen(f"{app_url}walk-preview.png?{before_move}&{bad}")
        assert error.value.code == 400 and message in error.value.read().decode()


def test_the_walk_preview_never_prepares_a_model(client, app_url, app_root):
    """Preparing a model takes seconds to minutes (issue 24: a costly upload's id held the server-wide
    preview slot for 18 minutes); the preview draws only models whose walk is ready, and answers 503 at once
    for others (the page then uses the slider's own event)."""
    from dcgan.ui import model_cache

    tiny_model_folder(app_root / "checkpoints" / "never-opened", seed=7)
    query = "model=never-opened&seed=1&move=dim:0:1.0"
    with pytest.raises(HTTPError) as refused:
        urlopen(f"{app_url}walk-preview.png?{query}")
    assert refused.value.code == 503 and "still being prepared" in refused.value.read().decode()
    assert not any(key.endswith("never-opened") for key in model_cache._loaded)  # nothing was loaded
    client.predict("never-opened", api_name="/pick_model")  # a visitor opens it: now it is ready
    with urlopen(f"{app_url}walk-preview.png?{query}") as response:
        assert response.headers["Content-Type"] == "image/png"


def test_walk_strip_exports_png_and_gif(client):
    client.predict(5, api_name="/walk_seed")
    png, gif = client.predict(api_name="/walk_export")
    assert png.endswith("walk-tiny-fashion-seed5-direction-0.png") and gif.endswith(".gif")
    assert Image.open(png).text["model"] == "tiny-fashion"
    assert Image.open(gif).n_frames == 2 * 9 - 2  # 9 steps, played forward and back


def test_interpolation_rows_frames_and_norms(client):
    result = client.predict(1, 2, "seed", "seed", 5, 3, api_name="/interpolate")
    lerp_grid, slerp_grid = result[3], result[4]
    plot = client.predict(api_name="/interpolation_plot")  # a second event, so the strips show first
    cell = 32 + 2  # 32 px images with 2 px padding, sent at 1x (the browser upscales)
    assert pixels(lerp_grid).shape == pixels(slerp_grid).shape == (3 * cell + 2, 5 * cell + 2)
    traces = json.loads(plot["plot"])["data"]
    midpoint = {trace["name"]: trace["y"][2] for trace in traces if trace["showlegend"]}
    assert midpoint["lerp"] < 0.85 * midpoint["slerp"]  # the straight line cuts through the shell
    files = client.predict(api_name="/interpolation_export")
    endings = ["lerp.gif", "lerp.png", "norms.csv", "norms.png", "slerp.gif", "slerp.png"]
    assert sorted(f.rsplit("-", 1)[1] for f in files) == endings
    plot = Image.open(next(f for f in files if f.endswith("norms.png")))  # the norm plot, as a picture
    assert plot.text["figure"] == "||z|| along the paths" and plot.text["model"] == "tiny-fashion"
    slerp_png = next(f for f in files if f.endswith("slerp.png"))
    assert "seeds1-2" in slerp_png and Image.open(slerp_png).text["method"] == "slerp"
    assert Image.open(slerp_png).size == (2 * (5 * cell + 2), 2 * (3 * cell + 2))  # files are upscaled 2x
    assert Image.open(next(f for f in files if f.endswith("lerp.gif"))).n_frames == 2 * 5 - 2


def test_arithmetic_on_picked_exemplars(client):
    gallery = client.predict(3, api_name="/arithmetic_batch")[1]
    assert len(gallery) == 24
    result = None
    for group, index in (("A", 0), ("A", 1), ("B", 2), ("C", 3)):
        result = client.predict(group, index, api_name="/arithmetic_pick")
    caption, a_picks, a_mean, *_, averaged, single, around, query = result
    assert "mean of 2 A" in caption and "pa=3.0,3.1&pb=3.2&pc=3.3" in query  # a link holds the picks
    assert pixels(a_picks).shape[1] > pixels(a_mean).shape[1]  # two exemplars beside each other
    assert not np.array_equal(pixels(averaged), pixels(single))
    assert pixels(around).shape[0] == pixels(around).shape[1]  # the 3x3 grid
    cleared = client.predict(api_name="/arithmetic_clear_all")
    assert "Still empty" in cleared[0] and cleared[-2] is None and "pa=&pb=&pc=" in cleared[-1]


def test_bad_uploads_get_a_clear_message(client, tmp_path):
    not_a_zip = tmp_path / "model.zip"
    not_a_zip.write_bytes(b"definitely not a zip")
    with pytest.raises(Exception, match="not a readable .zip file") as caught:
        client.predict(gradio_client.handle_file(str(not_a_zip)), api_name="/upload_model")
    assert "Traceback" not in str(caught.value)
    wrong_kind = tmp_path / "weights.txt"
    wrong_kind.write_text("hello")
    with pytest.raises(Exception, match="Invalid file type.*'.zip', '.pth'"):  # gradio checks file_types first
        client.predict(gradio_client.handle_file(str(wrong_kind)), api_name="/upload_model")


def test_zip_upload_becomes_the_current_model(client, tmp_path):
    folder = tiny_model_folder(tmp_path / "mine", seed=1)
    archive = tmp_path / "mine.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("config.json", "model.safetensors"):
            zipped.write(folder / name, name)
    choice, facts, _card, _banner = client.predict(gradio_client.handle_file(str(archive)), api_name="/upload_model")
    assert choice["value"].startswith("upload: mine-") and "nz 16" in facts
    assert "model=upload" in client.predict(5, api_name="/walk_seed")[-1]


def test_pth_upload_says_what_its_weights_leave_open_and_takes_the_answer(client, tmp_path):
    from test_import_layouts import COURSERA_LAYERS, CourseraGenerator, randomise

    torch.save(randomise(CourseraGenerator()).state_dict(), tmp_path / "coursera.pth")
    upload = gradio_client.handle_file(str(tmp_path / "coursera.pth"))
    choice, _facts, refusal, _banner = client.predict(upload, api_name="/upload_model")
    assert "needs import options" in refusal and "no standard DCGAN layout" in refusal
    assert f"--layers {COURSERA_LAYERS}" in refusal and "Traceback" not in refusal
    assert "... and more" in refusal  # the whole list of candidates, not cut short
    assert "upload:" not in str(choice)  # nothing was loaded
    choice, facts, card, _banner = client.predict(
        upload, COURSERA_LAYERS, "(no dense layer)", "relu", "uniform", 0, api_name="/upload_model"
    )
    assert choice["value"].startswith("upload: coursera-") and "image 28x28x1" in facts and "nz 10 (uniform)" in facts
    assert COURSERA_LAYERS in card  # the import's card, with its spec and the source's sha256


def test_app_without_models_starts_and_says_what_to_do(tmp_path):
    from browser.app_server import free_port

    from dcgan.ui import build_app

    demo = build_app(tmp_path / "none", tmp_path / "none", tmp_path / "uploads", warm_default=False)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        config = urlopen(f"http://127.0.0.1:{port}/config").read().decode()
        assert "No model yet" in config and "python -m dcgan train" in config
        visitor = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
        with pytest.raises(Exception, match="No model is loaded"):
            visitor.predict(1.0, api_name="/walk_dim_0")
    finally:
        demo.close()


def test_url_round_trip():
    state = VisitorState(model="fashion-mnist-32", tab="interpolation")
    state.walk.seed, state.walk.edits, state.walk.offsets = 42, {66: 1.25, 5: -0.5}, {0: 1.5}
    state.interpolation.seed_a, state.interpolation.steps = 7, 12
    restored = VisitorState()
    assert apply_query(restored, dict(parse_qsl(query_string(state)))) == []
    assert restored.model == "fashion-mnist-32" and restored.tab == "interpolation"
    assert restored.walk.seed == 42 and restored.walk.edits == {5: -0.5, 66: 1.25} and restored.walk.offsets == {0: 1.5}
    assert (restored.interpolation.seed_a, restored.interpolation.steps) == (7, 12)
    assert apply_query(VisitorState(), {"seed": "-3", "d": "x:y", "steps": "99"}) == ["seed", "d"]


def test_arithmetic_picks_and_the_inside_tab_survive_the_url():
    from dcgan.ui.session import InsideSettings, Pick

    state = VisitorState(model="fashion-mnist-32", tab="inside")
    z = np.linspace(-1, 1, 16).tolist()
    state.picks = {"A": [Pick("batch 3, #0", [0.0], ref="3.0"), Pick("projected shoe", z)], "B": [], "C": []}
    state.inside_settings = InsideSettings(seed=5, channel=[2, 17], layer=1, forget="Trouser", noise_seed=9)
    query = query_string(state)
    assert "pa=3.0,z" in query and "look=5&ch=2.17&gl=1" in query and "forget=Trouser&noise=9" in query
    restored = VisitorState()
    assert apply_query(restored, dict(parse_qsl(query))) == []
    first, second = restored.picks["A"]
    assert (first.ref, first.label, first.z) == ("3.0", "batch 3, #0", [])  # its z comes from the model, later
    assert np.allclose(second.z, z, atol=2e-3) and restored.picks["B"] == []
    assert restored.inside_settings == InsideSettings(seed=5, channel=[2, 17], layer=1, forget="Trouser", noise_seed=9)
    state.inside_settings = InsideSettings(seed=None, layer=0, channels="4, 7")  # an upload looked at: no seed
    query = query_string(state)
    assert "look=&ch=" in query and "zero=4,7" in query and "forget=&" in query
    restored = VisitorState()
    assert apply_query(restored, dict(parse_qsl(query))) == [] and restored.inside_settings.channels == "4, 7"
    bad = {"pa": "3.x", "ch": "2", "gl": "99", "zero": "1,-5", "look": "-1"}
    assert sorted(apply_query(VisitorState(), bad)) == ["ch", "gl", "look", "pa", "zero"]


def test_z_survives_the_url():
    z = np.random.default_rng(0).standard_normal(100).tolist()
    assert np.allclose(decode_z(encode_z(z)), z, atol=2e-3 * np.abs(z).max())


def test_fashion_models_get_class_labels_and_class_vectors(app_root, client):
    """With the judge shipped, a Fashion-MNIST model's directions are named by the classes they
    trade, and the class-vector endpoint moves a seed by (mean z of one class - mean z of another)."""
    from dcgan.quality.classifier import JUDGE_DIR
    from dcgan.ui.model_cache import Catalog, get_model

    if not (JUDGE_DIR / "model.safetensors").is_file():
        pytest.skip("no shipped judge classifier")
    root = app_root / "checkpoints"
    model = get_model(Catalog(root, root / "none", root / "none"), "tiny-fashion")
    assert all(" / + " in label for label in model.direction_labels())
    names, means, counts = model.class_means()
    by_count = sorted(zip(counts.tolist(), names, strict=True), reverse=True)
    drawn = [name for count, name in by_count if count > 0]  # most common first: its seeds are easy to find
    assert len(drawn) >= 2 and means.shape == (10, 16)
    from dcgan.nets.latent import generate, sample_noise
    from dcgan.ui.arithmetic import first_seed_of_class

    start_seed, z = first_seed_of_class(model, names.index(drawn[0]), 0)
    assert torch.equal(z, sample_noise(1, 16, seed=start_seed))
    assert model.judge()(generate(model.generator, z)).argmax() == names.index(drawn[0])
    client.predict(0, api_name="/arithmetic_batch")  # draws the tab: the class lists are filled
    strip, caption, gif = client.predict(drawn[0], drawn[1], 3, api_name="/class_vector")
    assert Image.open(gif).n_frames == 2 * 5 - 2 and Path(gif).stem == Path(strip).stem  # it moves: a GIF too
    assert f"mean z of {int(counts[names.index(drawn[1])])} {drawn[1]}" in caption
    assert pixels(strip).shape[1] > 4 * pixels(strip).shape[0]  # five images in a row
    from dcgan.explore.arithmetic import class_vector_strip, judge_readout

    images, library_caption = class_vector_strip(model, drawn[0], drawn[1], 3)
    assert caption == library_caption
    first_seed = caption.split()[1]  # "seed 4 (the first seed from 3 on ...": the strip's first image
    assert Path(strip).name.startswith("class-vector-tiny-fashion-")
    assert Path(strip).name.endswith(f"-seed{first_seed}.png")
    assert Image.open(strip).text["from"] == drawn[0] and Image.open(strip).text["to"] == drawn[1]
    readout = judge_readout(model, images)
    assert len(readout) == 5 and readout[0][0] == drawn[0]  # the strip starts on a seed of the source class
    assert " → ".join(f"{name} {100 * p:.0f}%" for name, p in readout) in caption
    reached = [i for i, (name, _) in enumerate(readout) if name == drawn[1]]
    assert (f"reads as {drawn[1]} from t = {reached[0] / 4:.2f}" if reached else "never reads as") in caption
    with pytest.raises(Exception, match="Spaceship is not in the list of choices"):  # Gradio checks first
        client.predict("Spaceship", drawn[1], 3, api_name="/class_vector")


def test_a_hub_id_loads_from_the_local_cache_and_a_missing_one_says_so(client, tmp_path, monkeypatch):
    """The Hub path through the app, offline: a hand-made HF cache stands in for huggingface.co."""
    from huggingface_hub import constants

    folder = tiny_model_folder(tmp_path / "hub-model", seed=2)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_cache = tmp_path / "hub" / "models--teacher--fashion-dcgan"
    snapshot = repo_cache / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((folder / name).read_bytes())
    (repo_cache / "refs").mkdir()
    (repo_cache / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    choice, facts, *_ = client.predict("teacher/fashion-dcgan", api_name="/load_hub_model")
    assert choice["value"] == "teacher/fashion-dcgan" and "nz 16" in facts
    assert "model=teacher%2Ffashion-dcgan" in client.predict(5, api_name="/walk_seed")[-1]
    with pytest.raises(Exception, match="Hugging Face Hub") as caught:
        client.predict("teacher/not-there", api_name="/load_hub_model")
    assert "Traceback" not in str(caught.value)


def test_inside_the_networks_verdict_saliency_and_ablation(client, tmp_path):
    state_before = client.predict("generated", 3, None, api_name="/inside_look")
    verdict, shown, plain, guided, *galleries, query = state_before
    assert "look=3" in query  # a link holds the look
    assert "% real" in verdict and "seed 3" in verdict
    assert pixels(plain).shape == pixels(guided).shape and not np.array_equal(pixels(plain), pixels(guided))
    visible = [g["value"] for g in galleries if g["visible"]]
    assert len(visible) == 3 and len(visible[0]) == 8  # three D layers; the first has 8 channels, all shown
    assert visible[2][0]["caption"].startswith("ch ")
    Image.new("RGB", (300, 200), "white").save(tmp_path / "white.png")
    uploaded = client.predict(
        "upload", 0, gradio_client.handle_file(str(tmp_path / "white.png")), api_name="/inside_look"
    )
    assert "your image" in uploaded[0] and uploaded[0] != verdict
    (tmp_path / "notes.png").write_text("not really a picture")
    with pytest.raises(Exception, match="notes.png: .*use a .png/.jpg/.webp/.bmp image") as caught:
        client.predict("upload", 0, gradio_client.handle_file(str(tmp_path / "notes.png")), api_name="/inside_look")
    assert "Traceback" not in str(caught.value)
    before, after, difference, caption, query = client.predict(
        "layer 1 (16 channels)", "0, 3", "", 0, api_name="/ablate"
    )
    assert "gl=1" in query and "zero=0,3" in query and "noise=0" in query
    assert "channels 0, 3 of layer 1" in caption
    assert not np.array_equal(pixels(before), pixels(after)) and pixels(difference).shape == pixels(before).shape
    assert np.array_equal(
        pixels(client.predict("layer 1 (16 channels)", "0", "", 0, api_name="/ablate")[0]), pixels(before)
    )
    assert not np.array_equal(
        pixels(client.predict("layer 1 (16 channels)", "0", "", 1, api_name="/ablate")[0]), pixels(before)
    )
    with pytest.raises(Exception, match="layer 1 has channels 0-15"):
        client.predict("layer 1 (16 channels)", "99", "", 0, api_name="/ablate")
    with pytest.raises(Exception, match="whole numbers"):
        client.predict("layer 1 (16 channels)", "all of them", "", 0, api_name="/ablate")
    *_, caption, query = client.predict("layer 0 (32 channels)", "", "Shirt", 0, api_name="/ablate")
    assert "forget=Shirt" in query and "zero=&" in query
    assert "A linear probe on layer 0's 32 filters picked the" in caption and "random filters" in caption
    with pytest.raises(Exception, match="0 are a Trouser"):  # this untrained model draws no trousers
        client.predict("layer 0 (32 channels)", "", "Trouser", 0, api_name="/ablate")


def test_training_tab_streams_a_job_that_becomes_a_model(client, app_root, tmp_path, monkeypatch):
    """Start a short job on a server folder through the API, see grids and curves stream, stop it,
    then walk the resulting run's latent space."""
    from helpers import blob_images

    from dcgan.serve.jobs import wait_until
    from dcgan.ui.training import MANAGER

    data = tmp_path / "data" / "blobs"
    data.mkdir(parents=True)
    for i, pixels in enumerate(blob_images(64, size=32)):
        Image.fromarray(pixels).save(data / f"{i:03d}.png")
    monkeypatch.setenv("DCGAN_DATA_ROOTS", str(tmp_path / "data"))
    knobs = ["paper", 32, 8, 8, "transposed", True, True, "normal", "nonsaturating", 0, 2e-4, 2e-4, 0.5, 32, 200, False]
    knobs += [0.99, "off", 0.1]  # EMA of G, DiffAugment, R1
    with pytest.raises(Exception, match="pick one of the listed server folders"):
        client.predict("server folder", "/etc", None, *knobs, api_name="/train_start")
    owner_key = client.predict("server folder", str(data), None, *knobs, api_name="/train_start")[-1]
    try:
        assert wait_until(lambda: len(MANAGER.snapshot().grids) >= 2, timeout=300)  # generous: a loaded machine
        assert (
            MANAGER.job.trainer.config.ema == 0.99
            and MANAGER.job.trainer.config.r1 == 0.1
            and MANAGER.job.trainer.ema_generator is not None
        )
        status, _warnings, latest, film, _frame, plot, _gif = client.predict(0, True, api_name="/train_status")
        assert "running" in status and "step" in status and latest.endswith(".png")
        assert film["maximum"] >= 1  # the film strip can scrub back
        scrubbed = client.predict(0, False, api_name="/train_status")[4]  # not following: grid 0 stays
        assert Path(scrubbed).name != Path(latest).name
        first_curve = len(json.loads(plot["plot"])["data"][0]["x"])
        assert wait_until(lambda: len(MANAGER.snapshot().metrics) > first_curve + 5, timeout=300)
        later = json.loads(client.predict(0, True, api_name="/train_status")[5]["plot"])["data"][0]["x"]
        assert len(later) > first_curve  # the curves moved
        with pytest.raises(Exception, match="already running"):
            client.predict("fashion-mnist", None, None, *knobs, api_name="/train_start")
    finally:
        client.predict(owner_key, api_name="/train_stop")  # the starter's key (tests/test_job_ownership.py)
    assert MANAGER.job.wait(timeout=300)
    status = client.predict(0, True, api_name="/train_status")[0]
    assert "Training stopped after" in status and "pick **run: blobs-" in status and "--resume" not in status
    run_name = MANAGER.snapshot().name
    choice, facts, *_ = client.predict(f"run: {run_name}", api_name="/pick_model")
    assert "ngf 8" in facts
    assert "model=run" in client.predict(4, api_name="/walk_seed")[-1]


def test_training_curves_are_smoothed_lines_over_faint_raw_values():
    from dcgan.serve.jobs import JobSnapshot
    from dcgan.ui.training import curves, describe, moving_average

    assert moving_average([1.0, 2.0, 3.0, 4.0, 5.0], 2) == [1.0, 1.5, 2.5, 3.5, 4.5]
    noisy = [
        {"step": step, "loss_d": 1.0 + (-1) ** step, "loss_g": 2.0, "d_real": 0.5, "d_fake": 0.5, "images_per_s": 9.0}
        for step in range(1, 301)
    ]
    fields = {field.name for field in dataclasses.fields(JobSnapshot)}
    base = dict.fromkeys(fields) | {"name": "run-1", "status": "done", "step": 300, "total_steps": 300}
    base |= {"metrics": noisy, "grids": [], "warnings": [], "message": "", "yours": False, "owned": False}
    traces = curves(JobSnapshot(**base)).to_dict()["data"]
    raw, smooth = traces[0], traces[1]  # loss_d: faint raw values, then the smoothed line in the legend
    assert raw["opacity"] == 0.25 and raw["showlegend"] is False and smooth["name"] == "loss_d"
    assert max(raw["y"]) == 2.0 and min(raw["y"]) == 0.0  # the raw values jump between 0 and 2 ...
    assert all(abs(value - 1.0) < 0.11 for value in smooth["y"][10:])  # ... the smoothed line shows their mean
    text = describe(JobSnapshot(**base))
    assert "the generator learned for all 300 steps" in text and "pick **run: run-1**" in text
    assert "--resume" not in text


def test_app_py_says_how_to_share_with_its_own_flag(tmp_path):
    """`python app.py` as a teacher runs it: the start-up lines name our --share flag, not Gradio's launch()."""
    import subprocess
    import sys

    from browser.app_server import free_port

    port = free_port()
    command = [sys.executable, "app.py", "--port", str(port), "--checkpoints", str(tmp_path), "--runs", str(tmp_path)]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("Running on local URL" in line for line in lines) and len(lines) < 20:
            lines.append(process.stdout.readline())
        lines.append(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(30)
    text = "".join(lines)
    assert f"http://127.0.0.1:{port}" in text and "python app.py --share" in text and "share=True" not in text


def test_the_train_tab_measures_how_long_an_epoch_takes_on_this_server(client):
    knobs = [
        "paper",
        32,
        8,
        8,
        "transposed",
        True,
        True,
        "normal",
        "nonsaturating",
        0,
        2e-4,
        2e-4,
        0.5,
        32,
        3,
        False,
        0,
    ]
    text = client.predict("server folder", *knobs, api_name="/train_estimate")
    assert "images/s with these settings, measured on this server at " in text
    assert "min an epoch of 1,000 images" in text and "for 3 epochs" in text  # a folder: per 1,000 images
    bad = list(knobs)
    bad[10] = -1.0  # G's learning rate: refused before anything is built
    with pytest.raises(Exception, match="lr_g must be a learning rate between 0 and 1") as caught:
        client.predict("server folder", *bad, api_name="/train_estimate")
    assert "Traceback" not in str(caught.value)


def test_a_worked_example_is_heavy_work_and_waits_its_turn(monkeypatch):
    """A tab's worked example on a model nobody warmed costs seconds of CPU: it takes a share of heavy work per
    visitor (its own, so it never refuses their clicks), is skipped (not marked shown) when refused, and drawn
    on the next showing."""
    from contextlib import contextmanager

    from dcgan.ui import _first_open, common, fairness
    from dcgan.ui.session import VisitorState

    drawn = []
    example = common.Refresh(lambda state: drawn.append(state.model) or ("picture",), [], [object()])
    first_open = _first_open("inside", example).fn
    state = VisitorState(model="m", tab="inside")

    class Busy:
        @contextmanager
        def turn(self, visitor, what):
            raise fairness.Refused("your previous projection is still running")
            yield

    monkeypatch.setattr(fairness, "EXAMPLE_WORK", Busy())
    assert first_open(state, None) != ("picture",) and drawn == [] and "inside" not in state.examples_shown
    monkeypatch.setattr(fairness, "EXAMPLE_WORK", fairness.HeavyWork())
    assert first_open(state, None) == ("picture",) and drawn == ["m"] and "inside" in state.examples_shown
    assert first_open(state, None) != ("picture",) and drawn == ["m"]  # once per model and visitor
    state.tab = "walk"
    state.examples_shown.clear()
    assert first_open(state, None) != ("picture",)  # only while its tab is the one shown


def test_the_projection_example_never_replaces_a_projection_made_while_it_was_computed(monkeypatch):
    """On a cold model the worked example takes seconds; a visitor who uploads and projects meanwhile keeps
    their own projection selected (a browser test once walked from test image 0 instead of the upload)."""
    from types import SimpleNamespace

    from dcgan.nets.latent import ProjectionStep
    from dcgan.ui import projection

    model = SimpleNamespace(facts={"data": "fashion-mnist"})
    found = ProjectionStep(300, 0.01, torch.zeros(4), torch.zeros(1, 8, 8))
    state = VisitorState(model="m", tab="project")

    def computed_while_the_visitor_projects(_model):
        state.add_projected("jacket #1", [1.0] * 4)
        return torch.zeros(1, 8, 8), found

    monkeypatch.setattr(projection, "example_projection", computed_while_the_visitor_projects)
    assert projection.claim_example(state, model) is None
    assert list(state.projected) == ["jacket #1"]

    fresh = VisitorState(model="m", tab="project")
    monkeypatch.setattr(projection, "example_projection", lambda _model: (torch.zeros(1, 8, 8), found))
    name, _, claimed = projection.claim_example(fresh, model)
    assert name == "fashion-mnist test image 0" and claimed is found and list(fresh.projected) == [name]


def test_the_inside_example_never_replaces_a_look_made_while_it_was_computed(tmp_path, monkeypatch):
    """The Inside tab's worked example, like the projection's: a visitor's own look (or ablation) that lands
    while the example is computed stays shown, and the example leaves those panels alone."""
    import gradio as gr

    from dcgan.ui import inside
    from dcgan.ui.model_cache import Catalog

    tiny_model_folder(tmp_path / "checkpoints" / "tiny-fashion")
    catalog = Catalog(tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads")
    with gr.Blocks():
        state, query = gr.State(VisitorState(model="tiny-fashion")), gr.Textbox()
        _, example = inside.build(catalog, state, query)
    visitor = VisitorState(model="tiny-fashion", tab="inside")
    computed = inside.example_look

    def computed_while_the_visitor_looks(model):
        found = computed(model)
        visitor.inside = {"source": "generated", "seed": 9, "path": None}
        visitor.inside_settings.seed, visitor.inside_settings.layer = 9, 0
        return found

    monkeypatch.setattr(inside, "example_look", computed_while_the_visitor_looks)
    drawn = example.fn(visitor)
    assert visitor.inside["seed"] == 9 and visitor.inside_settings.layer == 0
    assert all(update == gr.update() for update in drawn)  # nothing drawn over the visitor's figures

    fresh = VisitorState(model="tiny-fashion", tab="inside")
    monkeypatch.setattr(inside, "example_look", computed)
    drawn = example.fn(fresh)
    assert fresh.inside is not None and fresh.inside_settings.layer is not None
    assert any(update != gr.update() for update in drawn)
