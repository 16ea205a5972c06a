"""An uploaded .zip of training images must not fill the server's disk.

Bombs are built streaming (1 MB of zeros at a time, deflated), so a test never holds one in memory.
The library checks every claim of the archive before writing and holds each member to its claim;
the Train tab checks that the server is free (and the budget) before unpacking, and deletes what it
unpacked once the trainer has the images, or on any refusal.
"""

import io
import struct
import zipfile

import pytest
from helpers import blob_images
from PIL import Image

from dcgan.data import folders
from dcgan.data.folders import extract_image_zip, zip_image_members
from dcgan.errors import DcganError

MB = 2**20


def zip_with_zeros(path, name: str, megabytes: int, method=zipfile.ZIP_DEFLATED, others=()):
    """A zip whose member `name` inflates to `megabytes` MB of zeros (~1 KB per MB on disk)."""
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for other_name, payload in others:
            archive.writestr(other_name, payload)
        with archive.open(name, "w", force_zip64=True) as member:
            for _ in range(megabytes):
                member.write(bytes(MB))
    return path


def png_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(blob_images(1, size=32, seed=seed)[0]).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_that_unpacks_too_large_is_refused_before_anything_is_written(tmp_path):
    bomb = zip_with_zeros(tmp_path / "bomb.zip", "big.png", 30)
    assert bomb.stat().st_size < 100_000  # 30 MB of image in a few KB
    with pytest.raises(DcganError, match="big.png unpacks to 30 MB; the limit is 20 MB per image"):
        zip_image_members(bomb)
    with pytest.raises(DcganError, match="20 MB per image"):
        extract_image_zip(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_images_over_the_total_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(folders, "MAX_DATASET_ZIP_BYTES", 2 * MB)
    many = zip_with_zeros(tmp_path / "many.zip", "c.png", 1, others=[("a.png", bytes(MB)), ("b.png", bytes(MB))])
    with pytest.raises(DcganError, match="more than 2 MB of images"):
        extract_image_zip(many, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    monkeypatch.setattr(folders, "MAX_DATASET_ZIP_ENTRIES", 2)
    with pytest.raises(DcganError, match="holds 3 entries; the limit is 2"):
        zip_image_members(many)


def test_a_member_that_inflates_past_its_claim_is_stopped_and_nothing_stays(tmp_path):
    liar = zip_with_zeros(tmp_path / "liar.zip", "z.png", 5, others=[("a.png", png_bytes(1)), ("b.png", png_bytes(2))])
    # force_zip64 wrote a zip64 extra field for z.png; rebuild without it so the plain size fields are used
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(liar) as source, zipfile.ZipFile(plain, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    lie_about_size(plain, claimed=1000)
    assert [info.file_size for info in zip_image_members(plain)][-1] == 1000  # what the archive claims
    with pytest.raises(DcganError, match="z.png"):
        extract_image_zip(plain, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # the two good images written first are gone too


def lie_about_size(path, claimed: int) -> None:
    """Rewrite the last member's local and central headers to claim `claimed` bytes unpacked."""
    raw = bytearray(path.read_bytes())
    local, central = raw.rfind(b"PK\x03\x04"), raw.rfind(b"PK\x01\x02")
    raw[local + 22 : local + 26] = struct.pack("<I", claimed)
    raw[central + 24 : central + 28] = struct.pack("<I", claimed)
    path.write_bytes(bytes(raw))


def test_unusual_compression_is_refused(tmp_path):
    bz = tmp_path / "bz.zip"
    with zipfile.ZipFile(bz, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("a.png", png_bytes(0))
    with pytest.raises(DcganError, match="unusual compression"):
        extract_image_zip(bz, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_good_zip_unpacks(tmp_path):
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"shirts/{i}.png", png_bytes(i))
        archive.writestr("notes.txt", "not an image")
    assert len(zip_image_members(good)) == 3
    folder = extract_image_zip(good, tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == ["000000.png", "000001.png", "000002.png"]


# ---- through the Train tab ----

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from browser.app_server import running_app
    from test_job_ownership import LIMITS

    root = tmp_path_factory.mktemp("zip-app")
    with running_app(root, limits=LIMITS) as url:
        yield url, root


def images_zip(path, count: int):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, pixels in enumerate(blob_images(count, size=32)):
            buffer = io.BytesIO()
            Image.fromarray(pixels).save(buffer, "PNG")
            archive.writestr(f"blobs/{i:04d}.png", buffer.getvalue())
    return path


def unpacked(root) -> list:
    """Everything under the uploads folder's datasets/ (where the Train tab unpacks)."""
    return sorted((root / "uploads" / "datasets").rglob("*")) if (root / "uploads").exists() else []


def start_with_zip(client, archive, epochs: int, key=None):
    from test_job_ownership import job_settings

    upload = gradio_client.handle_file(str(archive))
    return client.predict("uploaded .zip", None, upload, *job_settings(epochs), key, api_name="/train_start")


def count_calls(monkeypatch, module, name: str) -> list:
    calls = []
    original = getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_a_zip_bomb_upload_is_refused_with_nothing_left_on_disk(app, tmp_path):
    url, root = app
    bomb = zip_with_zeros(tmp_path / "shirts.zip", "shirts/big.png", 100)  # the 100 MB zero image
    client = gradio_client.Client(url, verbose=False)
    with pytest.raises(Exception, match="big.png unpacks to 100 MB; the limit is 20 MB per image") as refused:
        start_with_zip(client, bomb, epochs=1)
    assert "Traceback" not in str(refused.value)
    assert unpacked(root) == []


def test_the_server_and_the_budget_are_checked_before_unpacking(app, tmp_path, monkeypatch):
    from dcgan.ui import training

    url, root = app
    archive = images_zip(tmp_path / "blobs.zip", 640)
    unpacks = count_calls(monkeypatch, training, "extract_image_zip")
    alice, bob = gradio_client.Client(url, verbose=False), gradio_client.Client(url, verbose=False)
    with pytest.raises(Exception, match="4,000 training steps.*at most 3,000"):  # 200 epochs x 20 batches
        start_with_zip(alice, archive, epochs=200)
    assert unpacks == [] and unpacked(root) == []

    key = start_with_zip(alice, archive, epochs=100)[-1]
    try:
        job = training.MANAGER.job
        assert len(unpacks) == 1 and not job.finished
        # The trainer has the images in memory; the folder they came from is gone already.
        assert len(job.trainer.dataset) == 640 and unpacked(root) == []
        for _ in range(3):  # the "+100 MB per click"
            with pytest.raises(Exception, match="already running"):
                start_with_zip(bob, archive, epochs=1)
        assert len(unpacks) == 1 and unpacked(root) == []
    finally:
        alice.predict(key, api_name="/train_stop")
        training.MANAGER.job.wait(60)


def test_a_refusal_after_unpacking_deletes_what_was_unpacked(app, tmp_path):
    url, root = app
    too_few = images_zip(tmp_path / "few.zip", 10)  # fewer than one batch of 32: refused while loading
    with pytest.raises(Exception, match="fewer than one batch"):
        start_with_zip(gradio_client.Client(url, verbose=False), too_few, epochs=1)
    assert unpacked(root) == []
