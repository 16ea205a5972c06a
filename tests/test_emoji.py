"""dcgan.data.emoji: Noto Color Emoji as a dataset (font parsing, rendering, categories, the cache).

The font comes from Debian's fonts-noto-color-emoji; tests that need it skip when it is absent.
Everything is rendered once per module, at 16x16, into a temporary cache (~15 s); the rest reads it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image, features

from dcgan.data import emoji
from dcgan.data.dataset import ImageDataset
from dcgan.data.emoji import CATEGORIES, EMOJI_FONT, emoji_category, emoji_name, load_emoji
from dcgan.data.loading import load_dataset
from dcgan.errors import DcganError

SIZE = 16
needs_font = pytest.mark.skipif(not EMOJI_FONT.is_file(), reason="apt install fonts-noto-color-emoji")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache directory, set as $DCGAN_CACHE for this module's tests."""
    folder = tmp_path_factory.mktemp("dcgan-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCGAN_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def rendered(cache):
    """The full dataset, rendered into the empty cache, and how long that took."""
    if not EMOJI_FONT.is_file():
        pytest.skip("apt install fonts-noto-color-emoji")
    started = time.perf_counter()
    dataset = load_emoji(SIZE)
    return dataset, time.perf_counter() - started


def uint8(images: torch.Tensor) -> np.ndarray:
    return ((images + 1) * 127.5).round().to(torch.uint8).numpy()


# ----------------------------------------------------------------------------- the dataset


@needs_font
def test_thousands_of_colour_images_in_range(rendered):
    dataset, _ = rendered
    assert isinstance(dataset, ImageDataset)
    assert len(dataset) > 3000  # ~1.4k single code points + flags, skin tones, ZWJ sequences
    assert dataset.images.shape == (len(dataset), 3, SIZE, SIZE)
    assert dataset.images.dtype == torch.float32 and dataset.images.is_contiguous()
    assert dataset.images.min() >= -1 and dataset.images.max() <= 1
    assert dataset.labels.shape == (len(dataset),) and dataset.labels.dtype == torch.int64
    assert dataset.class_names == CATEGORIES and len(dataset.texts) == len(dataset)
    assert dataset.name == "emoji"
    # Colour: the channels differ (a grey dataset would have R == G == B everywhere).
    assert (dataset.images[:, 0] - dataset.images[:, 1]).abs().mean() > 0.05


@needs_font
def test_images_are_drawn_on_white_and_mostly_distinct(rendered):
    dataset, _ = rendered
    pixels = uint8(dataset.images)  # (N, 3, S, S)
    per_image_std = dataset.images.flatten(1).std(dim=1)
    assert per_image_std.min() > 0.05, "a blank image slipped through"
    corners = pixels[:, :, [0, 0, -1, -1], [0, -1, 0, -1]]  # (N, 3, 4)
    assert (corners.min(axis=(1, 2)) > 200).mean() > 0.9, "the background should be white"
    distinct = len({image.tobytes() for image in pixels})
    assert distinct > 0.95 * len(dataset)


@needs_font
def test_texts_are_real_emoji_sequences(rendered):
    texts = rendered[0].texts
    assert len(set(texts)) == len(texts)
    assert {"😀", "🐶", "🍎", "🇫🇷", "👍🏽", "1\u20e3"} <= set(texts)
    assert not any(0xE000 <= ord(char) <= 0xF8FF or ord(char) >= 0xF0000 for text in texts for char in text)
    assert " " not in texts and "\u200d" not in texts and "A" not in texts
    if features.check("raqm"):  # without libraqm Pillow cannot join ZWJ sequences into one glyph
        assert {"👩\u200d🔬", "🐻\u200d❄", "🏳\u200d🌈"} <= set(texts)
        # The font also maps the right-to-left mirror of each ZWJ sequence; we keep only the real one.
        assert "🔬\u200d👩" not in texts and "♀\u200d🏃" not in texts


def test_emoji_names():
    assert emoji_name("😀") == "grinning face"
    assert emoji_name("🇫🇷") == "flag FR"
    assert emoji_name("👍🏽") == "thumbs up sign, medium skin tone"
    assert emoji_name("👩\u200d🔬") == "woman, microscope"
    assert emoji_name("1\u20e3") == "keycap 1"
    assert emoji_name("\U0001facf") == "donkey"  # Unicode 15: not in every Python's unicodedata


# ----------------------------------------------------------------------------- categories


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("😀", "face"),
        ("😺", "face"),  # a cat smiley is a face ...
        ("🐱", "animal"),  # ... a cat's head is an animal
        ("🐶", "animal"),
        ("🦄", "animal"),
        ("🫎", "animal"),
        ("👍", "person/hand"),
        ("🤦", "person/hand"),  # FACE PALM
        ("👩\u200d🔬", "person/hand"),
        ("🏃\u200d♀", "person/hand"),
        ("🍎", "plant/food"),
        ("🌻", "plant/food"),
        ("🚗", "place/sky"),
        ("🌙", "place/sky"),
        ("🔑", "object"),
        ("🕐", "object"),  # CLOCK FACE ONE OCLOCK
        ("🇫🇷", "symbol/flag"),
        ("❤", "symbol/flag"),
    ],
)
def test_emoji_category(text, category):
    assert emoji_category(text) == category


@needs_font
def test_categories_have_faces_and_animals(rendered):
    dataset, _ = rendered
    counts = torch.bincount(dataset.labels, minlength=len(CATEGORIES))
    by_name = dict(zip(CATEGORIES, counts.tolist(), strict=True))
    assert 100 <= by_name["face"] <= 250 and 100 <= by_name["animal"] <= 250
    assert all(count > 50 for count in by_name.values()), by_name
    assert [CATEGORIES[label] for label in dataset.labels[:50]] == [emoji_category(t) for t in dataset.texts[:50]]


# ----------------------------------------------------------------------------- the cache


@needs_font
def test_cache_is_reused_without_rendering(rendered, cache, monkeypatch):
    dataset, render_seconds = rendered
    assert list((cache / "emoji").glob("*.npz")), "the rendering should have been cached"

    def no_rendering(*args, **kwargs):
        raise AssertionError("rendered again instead of reading the cache")

    monkeypatch.setattr(emoji, "render_emoji", no_rendering)
    started = time.perf_counter()
    again = load_emoji(SIZE)
    assert time.perf_counter() - started < render_seconds / 3
    assert torch.equal(again.images, dataset.images) and again.texts == dataset.texts


@needs_font
def test_cache_is_rendered_again_when_the_renderer_changes(rendered, cache, tmp_path, monkeypatch):
    # A copy of the cache, so that the module's own one survives for the other tests.
    for path in (cache / "emoji").glob("*.npz"):
        (tmp_path / "emoji").mkdir(exist_ok=True)
        (tmp_path / "emoji" / path.name).write_bytes(path.read_bytes())
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path))
    calls = []

    def fake_render(texts, image_size, font_path):
        calls.append(len(texts))
        return np.full((2, image_size, image_size, 3), 255, np.uint8), ["😀", "🐶"]

    monkeypatch.setattr(emoji, "render_emoji", fake_render)
    monkeypatch.setattr(emoji, "RENDER_VERSION", emoji.RENDER_VERSION + 1)
    assert load_emoji(SIZE).texts == ["😀", "🐶"]
    assert calls and calls[0] > 3000


@needs_font
def test_grey_and_limit_and_load_dataset(rendered):
    dataset, _ = rendered
    grey = load_emoji(SIZE, channels=1, limit=20)
    assert grey.images.shape == (20, 1, SIZE, SIZE) and grey.texts == dataset.texts[:20]
    rgb = Image.fromarray(uint8(dataset.images[5]).transpose(1, 2, 0))
    assert np.array_equal(uint8(grey.images[5, 0]), np.asarray(rgb.convert("L")))  # Pillow's own weights

    named = load_dataset("Noto_Emoji", SIZE, limit=10)
    assert isinstance(named, emoji.EmojiDataset) and len(named) == 10 and named.images.shape[1] == 3
    assert torch.equal(named.images, dataset.images[:10])
    plain = load_dataset("emoji-no-skin-tones", SIZE)
    assert 1000 < len(plain) < len(dataset) and plain.name == "emoji-no-skin-tones"
    assert not any(0x1F3FB <= ord(char) <= 0x1F3FF for text in plain.texts for char in text)


# ----------------------------------------------------------------------------- errors


def test_missing_font_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    missing = tmp_path / "NotoColorEmoji.ttf"
    with pytest.raises(DcganError, match="apt install fonts-noto-color-emoji"):
        load_emoji(SIZE, font_path=missing)
    with pytest.raises(DcganError, match="apt install fonts-noto-color-emoji"):
        load_dataset("emoji", SIZE, path=missing)
    monkeypatch.setattr(emoji, "EMOJI_FONT", missing)  # as on a machine without the package
    with pytest.raises(DcganError, match="apt install fonts-noto-color-emoji"):
        load_emoji(SIZE)


def test_a_file_that_is_not_a_font_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    fake = tmp_path / "fake.ttf"
    fake.write_bytes(b"not a font at all")
    with pytest.raises(DcganError, match="not a TrueType"):
        load_emoji(SIZE, font_path=fake)
    truncated = tmp_path / "truncated.ttf"
    truncated.write_bytes(EMOJI_FONT.read_bytes()[:4096] if EMOJI_FONT.is_file() else b"\x00\x01\x00\x00" + bytes(8))
    with pytest.raises(DcganError):
        load_emoji(SIZE, font_path=truncated)


def test_bad_arguments(tmp_path):
    with pytest.raises(DcganError, match="channels"):
        load_emoji(SIZE, channels=2)
    with pytest.raises(DcganError, match="image_size"):
        load_emoji(0)
    with pytest.raises(DcganError, match="unknown emoji dataset"):
        emoji.load_emoji_dataset("emojis", SIZE)
