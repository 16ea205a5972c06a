"""dcgan.data: IDX files, finding/downloading datasets (from a local server), image folders, augment."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import struct
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.data import folders, idx
from dcgan.data.dataset import ImageDataset, cache_dir
from dcgan.data.folders import load_image_folder
from dcgan.data.idx import find_idx_dataset, load_idx_dataset, read_idx, write_idx
from dcgan.data.loading import augment, load_dataset
from dcgan.errors import DcganError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
STEMS = [stem for pair in idx.IDX_FILES.values() for stem in pair]


# ----------------------------------------------------------------------------- helpers and fixtures


def make_idx_folder(folder: Path, seed: int, train: int = 6, test: int = 4, gz: bool = True) -> dict[str, np.ndarray]:
    """A tiny fake MNIST-layout dataset; returns the arrays by file stem."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in (("train", train), ("test", test)):
        images_stem, labels_stem = idx.IDX_FILES[split]
        arrays[images_stem] = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        arrays[labels_stem] = rng.integers(0, 10, count, dtype=np.uint8)
    arrays["train-images-idx3-ubyte"][0] = 255  # a constant white image, to check resizing keeps it white
    arrays["train-images-idx3-ubyte"][1, 0, :3] = [0, 51, 255]  # known pixels for the exact [-1, 1] mapping
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """A local HTTP server for tmp_path/served; yields (base_url, served_folder, requested_paths)."""
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_CountingHandler, directory=served))
    httpd.requests = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/files/", served, httpd.requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """An empty cache and no system dataset, so only what a test sets up can be found."""
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DCGAN_DATA_URL", raising=False)
    monkeypatch.setitem(idx.SYSTEM_DATA_DIRS, "fashion-mnist", [tmp_path / "system"])
    return tmp_path


def serve_fake_dataset(served: Path, monkeypatch) -> dict[str, np.ndarray]:
    """Fake .gz files under served/files/, with the checksum table patched to their SHA-256."""
    arrays = make_idx_folder(served / "files", seed=1)
    checksums = {
        f"{stem}.gz": "sha256:" + hashlib.sha256((served / "files" / f"{stem}.gz").read_bytes()).hexdigest()
        for stem in STEMS
    }
    monkeypatch.setitem(idx.DOWNLOAD_CHECKSUMS, "fashion-mnist", checksums)
    return arrays


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def save(image: Image.Image, path: Path, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)


def png_header_only(path: Path, width: int, height: int) -> None:
    """A tiny PNG file that declares a huge size: what a decompression bomb looks like to Image.open."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    empty_data = chunk(b"IDAT", zlib.compress(b""))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + empty_data + chunk(b"IEND", b""))


def our_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(warning.message) for warning in record if issubclass(warning.category, UserWarning)]


# ----------------------------------------------------------------------------- IDX files


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    floats = rng.standard_normal((3, 4)).astype(np.float32)
    for name, array in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels), ("floats", floats)):
        write_idx(tmp_path / (name + suffix), array)
        back = read_idx(tmp_path / (name + suffix))
        assert back.dtype == array.dtype and back.dtype.isnative
        np.testing.assert_array_equal(back, array)
        back[0] = 0  # the result is a writable array, not a view of the file's bytes
    written = (tmp_path / ("images-idx3-ubyte" + suffix)).read_bytes()
    raw = gzip.decompress(written) if suffix else written
    assert written[:2] == (b"\x1f\x8b" if suffix else b"\x00\x00")
    assert raw[:16] == b"\x00\x00\x08\x03" + struct.pack(">III", 5, 28, 28)  # MNIST's own header


def test_read_idx_rejects_bad_magic(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(100))
    with pytest.raises(DcganError, match="bad-idx3-ubyte"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x07\x01" + bytes(8))  # unknown type byte
    with pytest.raises(DcganError, match="not an IDX file"):
        read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_truncated_file(tmp_path, suffix):
    path = tmp_path / f"images-idx3-ubyte{suffix}"
    write_idx(path, np.zeros((4, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DcganError, match=str(path.name)):
        read_idx(path)


def test_read_idx_rejects_extra_bytes_and_missing_file(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.zeros(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(DcganError, match="too long"):
        read_idx(path)
    with pytest.raises(DcganError, match="does not exist"):
        read_idx(tmp_path / "nothing-here")


# ----------------------------------------------------------------------------- finding and downloading


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("DCGAN_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "dcgan-explorer"


def test_download_verifies_and_caches(isolated, server, monkeypatch):
    base_url, served, requests = server
    arrays = serve_fake_dataset(served, monkeypatch)
    folder = find_idx_dataset("fashion-mnist", base_url=base_url)
    assert folder == isolated / "cache" / "fashion-mnist"
    assert sorted(path.name for path in folder.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS)
    for stem in STEMS:
        np.testing.assert_array_equal(read_idx(folder / f"{stem}.gz"), arrays[stem])
    assert len(requests) == 4
    assert find_idx_dataset("fashion-mnist", base_url=base_url) == folder
    assert len(requests) == 4  # the second call is served from the cache


def test_download_base_url_from_environment(isolated, server, monkeypatch):
    base_url, served, requests = server
    serve_fake_dataset(served, monkeypatch)
    monkeypatch.setenv("DCGAN_DATA_URL", base_url)
    dataset = load_idx_dataset("fashion-mnist", split="test")
    assert dataset.images.shape == (4, 1, 28, 28) and len(requests) == 4


def test_download_rejects_corrupted_file_and_leaves_nothing(isolated, server, monkeypatch):
    base_url, served, requests = server
    serve_fake_dataset(served, monkeypatch)
    corrupted = served / "files" / "t10k-labels-idx1-ubyte.gz"  # the last of the four to be fetched
    good_bytes = corrupted.read_bytes()
    corrupted.write_bytes(good_bytes[:20] + bytes([good_bytes[20] ^ 0xFF]) + good_bytes[21:])
    with pytest.raises(DcganError, match="checksum mismatch"):
        find_idx_dataset("fashion-mnist", base_url=base_url)
    cache = isolated / "cache" / "fashion-mnist"
    assert sorted(path.name for path in cache.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS[:3])
    # The verified files stay; the next try downloads only the missing one.
    corrupted.write_bytes(good_bytes)
    requests.clear()
    assert find_idx_dataset("fashion-mnist", base_url=base_url) == cache
    assert requests == ["/files/t10k-labels-idx1-ubyte.gz"]


def test_no_network_lists_every_place_looked(isolated):
    base_url = f"http://127.0.0.1:{unused_port()}/"
    with pytest.raises(DcganError) as raised:
        find_idx_dataset("fashion-mnist", base_url=base_url)
    message = str(raised.value)
    for expected in (str(isolated / "cache" / "fashion-mnist"), str(isolated / "system"), base_url):
        assert expected in message
    assert "apt install dataset-fashion-mnist" in message and "--data PATH" in message
    assert not list((isolated / "cache" / "fashion-mnist").glob("*"))


def test_download_false_never_touches_the_network(isolated, server, monkeypatch):
    base_url, served, requests = server
    serve_fake_dataset(served, monkeypatch)
    with pytest.raises(DcganError, match="download=False"):
        find_idx_dataset("fashion-mnist", download=False, base_url=base_url)
    assert requests == []


def test_lookup_order_explicit_then_cache_then_system(isolated):
    explicit, cache, system = isolated / "explicit", isolated / "cache" / "fashion-mnist", isolated / "system"
    make_idx_folder(system, seed=3, gz=False)
    assert find_idx_dataset("fashion-mnist", download=False) == system
    (cache).mkdir(parents=True)
    write_idx(cache / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))  # incomplete: not used
    assert find_idx_dataset("fashion-mnist", download=False) == system
    make_idx_folder(cache, seed=2)
    assert find_idx_dataset("fashion-mnist", download=False) == cache
    arrays = make_idx_folder(explicit, seed=1)
    assert find_idx_dataset("fashion-mnist", path=explicit, download=False) == explicit
    dataset = load_idx_dataset("fashion-mnist", path=explicit, download=False)
    np.testing.assert_array_equal(dataset.labels.numpy(), arrays["train-labels-idx1-ubyte"])


def test_explicit_path_without_the_files_is_an_error(isolated):
    make_idx_folder(isolated / "cache" / "fashion-mnist", seed=0)
    with pytest.raises(DcganError, match="t10k-labels-idx1-ubyte"):
        find_idx_dataset("fashion-mnist", path=isolated, download=False)


# ----------------------------------------------------------------------------- loading IDX data


def test_load_idx_dataset_maps_pixels_exactly(isolated):
    arrays = make_idx_folder(isolated / "system", seed=4)
    dataset = load_idx_dataset("Fashion_MNIST", download=False)
    assert isinstance(dataset, ImageDataset) and len(dataset) == 6
    assert dataset.images.dtype == torch.float32 and dataset.images.shape == (6, 1, 28, 28)
    assert dataset.images[1, 0, 0, :3].tolist() == [-1.0, np.float32(51 / 127.5 - 1), 1.0]
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"]).float() / 127.5 - 1
    assert torch.equal(dataset.images[:, 0], expected)
    assert dataset.labels.dtype == torch.int64
    assert dataset.class_names == idx.FASHION_MNIST_CLASSES and dataset.name == "fashion-mnist"


def test_load_dataset_resizes_repeats_channels_and_limits(isolated):
    folder = isolated / "my-idx"
    arrays = make_idx_folder(folder, seed=5, gz=False)
    dataset = load_dataset(str(folder), 32, channels=3, limit=3)
    assert dataset.images.shape == (3, 3, 32, 32) and dataset.images.is_contiguous()
    assert torch.equal(dataset.images[:, 0], dataset.images[:, 2])
    assert torch.allclose(dataset.images[0], torch.ones(3, 32, 32))  # white stays white
    assert dataset.images.min() >= -1 and dataset.images.max() <= 1
    np.testing.assert_array_equal(dataset.labels.numpy(), arrays["train-labels-idx1-ubyte"][:3])
    assert dataset.class_names is None and dataset.name == str(folder)
    smaller = load_dataset(str(folder), 14, split="test")
    assert smaller.images.shape == (4, 1, 14, 14)
    expected_mean = arrays["t10k-images-idx3-ubyte"].mean(axis=(1, 2)) / 127.5 - 1
    np.testing.assert_allclose(smaller.images.mean(dim=(1, 2, 3)).numpy(), expected_mean, atol=0.02)


def test_load_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(DcganError, match='"fashion-mnist", "mnist"'):
        load_dataset(str(tmp_path / "nope"), 32)
    with pytest.raises(DcganError, match="split"):
        load_dataset("fashion-mnist", 32, split="validation")
    with pytest.raises(DcganError, match="channels"):
        load_dataset("fashion-mnist", 32, channels=2)


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="apt install dataset-fashion-mnist")
def test_real_fashion_mnist_from_debian(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))  # an empty cache: must come from the system path
    train = load_idx_dataset("fashion-mnist", download=False)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == torch.float32
    assert train.images.min().item() == -1.0 and train.images.max().item() == 1.0
    assert train.labels.bincount().tolist() == [6000] * 10
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    del train
    test = load_dataset("fashion-mnist", 32, split="test", download=False)
    assert test.images.shape == (10000, 1, 32, 32)
    assert test.images.min().item() >= -1.0 and test.images.max().item() <= 1.0
    assert sorted(test.labels.unique().tolist()) == list(range(10))


# ----------------------------------------------------------------------------- image folders


@pytest.fixture
def image_folder(tmp_path) -> Path:
    """Good images of many formats, modes and sizes, nested, plus files that must be skipped or ignored."""
    root = tmp_path / "images"
    stripes = Image.new("RGB", (80, 20), (255, 0, 0))  # red | green (x 20..60) | blue; the centre crop is green
    stripes.paste((0, 255, 0), (20, 0, 60, 20))
    stripes.paste((0, 0, 255), (60, 0, 80, 20))
    save(stripes, root / "a_stripes.png")
    save(Image.new("L", (30, 30), 128), root / "b_grey.jpg", quality=95)
    save(Image.new("RGB", (20, 20), (10, 20, 30)), root / "f_upper.BMP")
    save(Image.new("RGBA", (24, 24), (0, 0, 0, 0)), root / "nested" / "c_transparent.png")
    palette = Image.new("P", (24, 24), 1)
    palette.putpalette([0, 0, 0] * 256)  # every colour black, index 1 transparent -> white
    save(palette, root / "nested" / "deeper" / "d_palette.png", transparency=1)
    save(Image.new("RGB", (16, 32), (0, 0, 255)), root / "nested" / "e_tall.webp", lossless=True)
    (root / "broken.png").write_bytes(np.random.default_rng(0).bytes(500))
    (root / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return root


def test_image_folder_loads_good_images_and_warns_once(image_folder):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        dataset = load_image_folder(image_folder, 16)
    messages = our_warnings(record)
    assert len(messages) == 1 and "skipped 1 of 7" in messages[0] and "broken.png" in messages[0]
    images = dataset.images
    assert images.shape == (6, 3, 16, 16) and images.dtype == torch.float32 and images.is_contiguous()
    assert images.min() >= -1 and images.max() <= 1
    assert dataset.labels is None and dataset.name == str(image_folder)
    # Sorted order: a_stripes, b_grey, f_upper, nested/c_transparent, nested/deeper/d_palette, nested/e_tall.
    assert torch.allclose(images[0], torch.tensor([-1.0, 1.0, -1.0]).view(3, 1, 1).expand(3, 16, 16))
    assert torch.allclose(images[1], torch.full((3, 16, 16), 128 / 127.5 - 1), atol=0.02)
    assert torch.equal(images[3], torch.ones(3, 16, 16))  # transparent composited on white
    assert torch.equal(images[4], torch.ones(3, 16, 16))
    assert torch.equal(images[5][2], torch.ones(16, 16)) and images[5][0].max() == -1


def test_image_folder_channels(image_folder):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grey = load_image_folder(image_folder, 8, channels=1)
        auto = load_dataset(str(image_folder), 8)  # some images are in colour: three channels
    assert grey.images.shape == (6, 1, 8, 8) and auto.images.shape == (6, 3, 8, 8)
    only_grey = image_folder / "nested" / "deeper"
    assert load_dataset(str(only_grey), 8).images.shape == (1, 1, 8, 8)
    assert load_dataset(str(only_grey), 8, channels=3).images.shape == (1, 3, 8, 8)


def test_image_folder_16_bit_grey_and_exif_rotation(tmp_path):
    save(Image.fromarray(np.full((12, 12), 32896, np.uint16)), tmp_path / "a_16bit.png")  # 32896 >> 8 = 128
    halves = Image.new("RGB", (12, 12), (255, 0, 0))  # stored: left red, right green
    halves.paste((0, 255, 0), (6, 0, 12, 12))
    exif = Image.Exif()
    exif[0x0112] = 3  # orientation: shown rotated by 180 degrees
    save(halves, tmp_path / "b_rotated.png", exif=exif)
    dataset = load_image_folder(tmp_path, 12)
    assert torch.allclose(dataset.images[0], torch.full((3, 12, 12), 128 / 127.5 - 1), atol=1e-6)  # scaled, not clipped
    assert dataset.images[1, :, 0, 0].tolist() == [-1.0, 1.0, -1.0]  # shown: left green
    assert dataset.images[1, :, 0, -1].tolist() == [1.0, -1.0, -1.0]


def test_image_folder_subfolders_become_classes(tmp_path):
    for relative, value in (("dogs/b.png", 200), ("cats/a.png", 0), ("dogs/c.jpg", 255)):
        save(Image.new("RGB", (10, 10), (value,) * 3), tmp_path / relative)
    dataset = load_image_folder(tmp_path, 8, limit=2)
    assert dataset.class_names == ["cats", "dogs"]
    assert dataset.labels.tolist() == [0, 1] and dataset.images[0].max() == -1


def test_image_folder_errors(tmp_path):
    with pytest.raises(DcganError, match="does not exist"):
        load_image_folder(tmp_path / "missing", 16)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DcganError, match="no images found"):
        load_image_folder(tmp_path / "empty", 16)
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("hi")
    with pytest.raises(DcganError, match=r"no images found.*\.txt"):
        load_dataset(str(tmp_path / "text"), 16)


def test_image_folder_skips_decompression_bombs(tmp_path, monkeypatch):
    save(Image.new("RGB", (40, 40), (0, 255, 0)), tmp_path / "a_real.png")  # 1600 pixels
    png_header_only(tmp_path / "b_bomb.png", 10_000, 10_000)  # over our 50 MP limit; Pillow warns
    png_header_only(tmp_path / "c_bomb.png", 20_000, 20_000)  # over Pillow's own limit too
    save(Image.new("RGB", (8, 8), (255, 255, 255)), tmp_path / "d_small.png")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        dataset = load_image_folder(tmp_path, 8)
    assert len(dataset) == 2
    assert len(record) == 1  # Pillow's DecompressionBombWarning is folded into ours
    assert "skipped 2 of 4" in str(record[0].message) and "too large" in str(record[0].message)
    monkeypatch.setattr(folders, "MAX_IMAGE_PIXELS", 1000)  # now the 40x40 image is too large as well
    with pytest.warns(UserWarning, match=r"skipped 3 of 4.*a_real\.png \(too large"):
        dataset = load_image_folder(tmp_path, 8)
    assert len(dataset) == 1 and torch.equal(dataset.images, torch.ones(1, 3, 8, 8))


# ----------------------------------------------------------------------------- augment


def test_augment_is_deterministic_and_keeps_shape():
    images = torch.rand(32, 3, 16, 16) * 2 - 1
    first = augment(images, torch.Generator().manual_seed(7))
    again = augment(images, torch.Generator().manual_seed(7))
    other = augment(images, torch.Generator().manual_seed(8))
    assert first.shape == images.shape and first.dtype == images.dtype
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_augment_outputs_are_flips_and_shifts_of_the_input():
    image = torch.arange(1 * 8 * 8, dtype=torch.float32).view(1, 8, 8)  # all pixels distinct
    batch = image.expand(200, 1, 8, 8)
    out = augment(batch, torch.Generator().manual_seed(0), max_shift=2)

    def shifted(source, dy, dx):  # replicate padding = clamped indices
        rows = (torch.arange(8) - dy).clamp(0, 7)
        cols = (torch.arange(8) - dx).clamp(0, 7)
        return source[:, rows][:, :, cols]

    candidates = {
        (flip, dy, dx): shifted(image.flip(-1) if flip else image, dy, dx)
        for flip in (False, True)
        for dy in range(-2, 3)
        for dx in range(-2, 3)
    }
    seen = []
    for result in out:
        matches = [key for key, candidate in candidates.items() if torch.equal(result, candidate)]
        assert len(matches) == 1
        seen.append(matches[0])
    assert {flip for flip, _, _ in seen} == {False, True}
    assert len({(dy, dx) for _, dy, dx in seen}) == 25


def test_augment_without_shift_only_flips():
    image = torch.arange(12, dtype=torch.float32).view(1, 3, 4)
    out = augment(image.expand(64, 1, 3, 4), torch.Generator().manual_seed(1), max_shift=0)
    flipped = torch.tensor([torch.equal(result, image.flip(-1)) for result in out])
    unchanged = torch.tensor([torch.equal(result, image) for result in out])
    assert torch.all(flipped ^ unchanged) and 10 < flipped.sum() < 54


def test_uploaded_image_zip_is_unpacked_safely(tmp_path):
    import zipfile

    from PIL import Image

    from dcgan.data.folders import extract_image_zip
    from dcgan.data.loading import load_dataset

    good = tmp_path / "shirts.zip"
    with zipfile.ZipFile(good, "w") as archive:
        for i in range(5):
            image = tmp_path / f"s{i}.png"
            Image.new("RGB", (40, 30), (40 * i, 0, 0)).save(image)
            archive.write(image, f"shirts/red/s{i}.png")
        archive.writestr("shirts/readme.txt", "not an image")
    folder = extract_image_zip(good, tmp_path / "out")
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(5)]
    assert load_dataset(str(folder), 32).images.shape == (5, 3, 32, 32)

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../escape.png", b"x")
    with pytest.raises(DcganError, match="unsafe path"):
        extract_image_zip(evil, tmp_path / "evil-out")
    assert not (tmp_path / "evil-out").exists() and not (tmp_path.parent / "escape.png").exists()

    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(DcganError, match="holds no images"):
        extract_image_zip(empty, tmp_path / "empty-out")
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(DcganError, match="not a readable .zip"):
        extract_image_zip(tmp_path / "fake.zip", tmp_path / "fake-out")
