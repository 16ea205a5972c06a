"""Who may control the server's training job, through the app's API as visitors (gradio_client) see it.

The browser that starts a job owns it (a key it keeps); other visitors only watch; the host's token
stops anyone's job; the host's step budget refuses a long job before any data is read; a starter others
waited for cannot take the slot straight back; a form number that is not one is refused by name. One app
(tiny model, a folder of blob images under DCGAN_DATA_ROOTS) serves the module; each client is a visitor.
"""

import json
from urllib.request import Request, urlopen

import pytest
from PIL import Image

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")
from browser.app_server import running_app  # noqa: E402
from helpers import blob_images  # noqa: E402

from dcgan.serve.hosting import HostLimits  # noqa: E402
from dcgan.serve.jobs import wait_until  # noqa: E402

HOST_TOKEN = "host-token-for-tests"
LIMITS = HostLimits(host_token=HOST_TOKEN, job_max_steps=3000, job_max_minutes=60, job_pause_minutes=10)
IMAGES = 640  # 20 batches of 32 per epoch: long enough to still run while the test pokes at it


def knobs(epochs: int) -> list:
    """The Train form after the data inputs: tiny G and D, batch 32."""
    return ["paper", 32, 8, 8, "transposed", True, True, "normal", "nonsaturating", 0, 2e-4, 2e-4, 0.5, 32, epochs]


def job_settings(epochs: int) -> list:
    return [*knobs(epochs), False, 0.0, "off", 0.0]  # augment, EMA, DiffAugment, R1


@pytest.fixture(scope="module")
def app_root(tmp_path_factory):
    return tmp_path_factory.mktemp("ownership")


@pytest.fixture(scope="module")
def blobs_folder(app_root):
    folder = app_root / "data" / "blobs"
    folder.mkdir(parents=True)
    for i, pixels in enumerate(blob_images(IMAGES, size=32)):
        Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    return folder


@pytest.fixture(scope="module")
def app_url(app_root, blobs_folder):
    patch = pytest.MonkeyPatch()
    patch.setenv("DCGAN_DATA_ROOTS", str(blobs_folder.parent))
    try:
        with running_app(app_root, limits=LIMITS) as url:
            yield url
    finally:
        patch.undo()


def visitor(app_url):
    return gradio_client.Client(app_url, verbose=False)


def start(client, folder, epochs=100, key=None):
    """Start a job as this visitor; returns (status text, the key the browser keeps)."""
    result = client.predict("server folder", str(folder), None, *job_settings(epochs), key, api_name="/train_start")
    return result[0], result[-1]


def stop_whatever_runs():
    from dcgan.ui.training import MANAGER

    if MANAGER.job is not None and not MANAGER.job.finished:
        MANAGER.job.stop()
        MANAGER.job.wait(60)


def test_the_starter_owns_the_job_and_others_only_watch(app_url, blobs_folder):
    from dcgan.ui.training import MANAGER

    alice, bob = visitor(app_url), visitor(app_url)
    try:
        status, alice_key = start(alice, blobs_folder)
        assert isinstance(alice_key, str) and len(alice_key) >= 20
        assert "You started this job" in status
        job = MANAGER.job
        for action in ("/train_stop", "/train_pause", "/train_resume"):
            with pytest.raises(Exception, match="started by another visitor: you can watch it") as refused:
                bob.predict(api_name=action)  # no key at all
            assert "Traceback" not in str(refused.value)
            with pytest.raises(Exception, match="started by another visitor"):
                bob.predict("a-key-bob-made-up", api_name=action)
        assert MANAGER.job is job and not job.trainer.paused and not job.trainer.stop_requested
        step = job.snapshot().step
        assert wait_until(lambda: job.snapshot().step > step, timeout=30)  # still training

        # What Bob's page shows: the job, who controls it, and nothing of Alice's key.
        bob_status = bob.predict(0, True, api_name="/train_status")
        assert "started by another visitor: you can watch it" in bob_status[0].lower()
        assert alice_key not in repr(bob_status)
        assert "You started this job" in alice.predict(0, True, alice_key, api_name="/train_status")[0]

        alice.predict(alice_key, api_name="/train_pause")
        assert wait_until(lambda: job.snapshot().status == "paused", timeout=30)
        assert "unless resumed" in alice.predict(0, True, alice_key, api_name="/train_status")[0]
        alice.predict(alice_key, api_name="/train_resume")
        assert not job.trainer.paused
        alice.predict(alice_key, api_name="/train_stop")
        assert job.wait(timeout=60) and job.snapshot().status == "stopped"

        # A reloaded page sends its stored key again: the same browser starts and owns the next job.
        status, same_key = start(alice, blobs_folder, key=alice_key)
        assert same_key == alice_key and "You started this job" in status
        alice.predict(alice_key, api_name="/train_stop")
        assert MANAGER.job.wait(timeout=60)
    finally:
        stop_whatever_runs()


def test_the_host_token_stops_anyones_job_and_a_wrong_one_does_not(app_url, blobs_folder):
    from dcgan.ui.training import MANAGER

    alice, host = visitor(app_url), visitor(app_url)
    try:
        start(alice, blobs_folder)
        job = MANAGER.job
        for wrong in ("not-the-token", HOST_TOKEN + "x", HOST_TOKEN[:-1]):
            with pytest.raises(Exception, match="host token given is not this server's.*another visitor"):
                host.predict(None, wrong, api_name="/train_stop")
        assert not job.trainer.stop_requested
        host.predict(None, HOST_TOKEN, api_name="/train_pause")
        assert job.trainer.paused
        host.predict(None, HOST_TOKEN, api_name="/train_resume")
        host.predict(None, HOST_TOKEN, api_name="/train_stop")
        assert job.wait(timeout=60) and job.snapshot().status == "stopped"
        assert "Stopped by the server's host" in alice.predict(0, True, api_name="/train_status")[0]
        assert (job.trainer.run_dir / "training_state.safetensors").is_file()
    finally:
        stop_whatever_runs()


def test_a_job_over_the_step_budget_is_refused_before_anything_is_read(app_url, app_root, blobs_folder, monkeypatch):
    from dcgan.ui import training

    def must_not_load(*args, **kwargs):
        raise AssertionError("the data was loaded before the budget was checked")

    monkeypatch.setattr(training, "load_dataset", must_not_load)
    runs_before = set((app_root / "runs").glob("*"))
    job_before = training.MANAGER.job
    client = visitor(app_url)
    # 200 epochs x 20 batches of 32 = 4,000 steps, over the host's 3,000
    with pytest.raises(Exception, match=r"4,000 training steps \(200 epochs x 20 batches of 32.*at most 3,000") as e:
        start(client, blobs_folder, epochs=200)
    assert "python -m dcgan train" in str(e.value)
    with pytest.raises(Exception, match="at most 3,000 steps"):  # Fashion-MNIST's 60,000 images, never opened
        client.predict("fashion-mnist", None, None, *job_settings(2), api_name="/train_start")
    assert training.MANAGER.job is job_before and set((app_root / "runs").glob("*")) == runs_before


FORM_START = 3  # /train_start's parameters: data kind, server folder, zip, then the form (training.FORM)


def raw_call(app_url: str, api_name: str, data: list) -> str:
    """Call an endpoint as a script would, with JSON gradio_client refuses to write (NaN, Infinity);
    returns the event stream's text (an "event: error" carries the message the page would show)."""
    body = json.dumps({"data": data}).encode()  # json writes NaN and Infinity, as JavaScript's parsers accept
    call = Request(f"{app_url}gradio_api/call/{api_name}", body, {"Content-Type": "application/json"})
    with urlopen(call, timeout=30) as response:
        event_id = json.loads(response.read())["event_id"]
    with urlopen(f"{app_url}gradio_api/call/{api_name}/{event_id}", timeout=60) as response:
        return response.read().decode()


@pytest.mark.parametrize("knob", ["lr_g", "epochs", "ngf", "label_smoothing"])
def test_a_number_that_is_not_one_is_refused_with_the_knobs_name(app_url, blobs_folder, knob):
    """Raw API values a page never sends (NaN, inf, "abc", null) get a message, not Gradio's bare error."""
    from dcgan.ui.training import FORM, MANAGER, form_knob

    job_before = MANAGER.job
    for bad in (float("nan"), float("inf"), "abc", None):
        arguments = ["server folder", str(blobs_folder), None, *job_settings(2), None]
        arguments[FORM_START + FORM.index(knob)] = bad
        answer = raw_call(app_url, "train_start", arguments)
        assert "event: error" in answer and f"{form_knob(knob).label} must be a number" in answer, (bad, answer)
        assert "Traceback" not in answer
    assert MANAGER.job is job_before


def test_a_starter_others_waited_for_cannot_take_the_slot_straight_back(app_url, blobs_folder, monkeypatch):
    """The issue's script restarted its job the moment the time limit stopped it, and kept the slot for hours
    while a visitor pressing Start got nothing. Two visitors behind the host's proxy (127.0.0.1 here, named in
    DCGAN_TRUSTED_PROXIES), each with their own address in X-Forwarded-For."""
    from dcgan.ui import fairness
    from dcgan.ui.training import MANAGER

    proxy = fairness.trusted_proxies({"DCGAN_TRUSTED_PROXIES": "127.0.0.1"})
    monkeypatch.setattr(fairness, "TRUSTED_PROXIES", proxy)

    def behind_proxy(address: str):
        return gradio_client.Client(app_url, verbose=False, headers={"X-Forwarded-For": address})

    script, bob = behind_proxy("151.101.1.1"), behind_proxy("151.101.1.2")
    try:
        _, key = start(script, blobs_folder)
        job = MANAGER.job
        with pytest.raises(Exception, match="already running"):
            start(bob, blobs_folder)  # Bob asks for the slot while the script's job holds it
        job.started_at -= 60 * 60  # an hour on: the watchdog stops it at the time limit
        assert job.wait(timeout=60) and "60 min, this server's time limit" in job.snapshot().message
        for again in (key, None):  # its browser's key, or a fresh one from the same address
            with pytest.raises(Exception, match=r"another visitor waited for it.*next one in 6[01] min") as refused:
                start(script, blobs_folder, key=again)
            assert "Traceback" not in str(refused.value)
        assert MANAGER.job is job
        status, _ = start(bob, blobs_folder)  # anyone else: at once
        assert "You started this job" in status
    finally:
        stop_whatever_runs()
