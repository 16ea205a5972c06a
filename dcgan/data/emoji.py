"""Colour emoji as a dataset: every distinct glyph of Noto Color Emoji, rendered with Pillow, on white.

The font is Debian's `fonts-noto-color-emoji` (Apache-2.0). Which emoji it holds is read from the font
itself: single code points from its cmap table, sequences (flags, keycaps, skin tones, ZWJ sequences
such as "woman scientist") from the ligatures in its GSUB table. Each distinct glyph becomes one image:
drawn at the font's only size (109 px, a 136x128 bitmap), cropped to its visible pixels, centred on a
white square with a thin margin, and resized to `image_size` with LANCZOS. Rendering the ~3.9k glyphs
takes ~20 s on two busy cores, so the uint8 pixels are cached as a compressed .npz per image size in
`cache_dir()/emoji/`, and rendered again only when the font file or this renderer changes.

Labels are coarse categories (`CATEGORIES`, see `emoji_category`) so the app can take class means
("faces", "animals"). Augmentation (flips, small shifts) is the trainer's job (`TrainConfig.augment`).
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageChops, ImageDraw, ImageFont

from dcgan.data.dataset import ImageDataset, cache_dir, check_load_arguments
from dcgan.errors import DcganError
from dcgan.io_utils import atomic_write

log = logging.getLogger(__name__)

EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_SIZE = 109  # a CBDT bitmap font has fixed sizes; Noto Color Emoji has only this one
MARGIN = 1 / 32  # white border each side, as a fraction of the side: 2 px at 64x64, what augment shifts by
RENDER_VERSION = 1  # bump when the rendering changes, so old caches are rendered again
CATEGORIES = ["face", "person/hand", "animal", "plant/food", "place/sky", "object", "symbol/flag"]

ZWJ, KEYCAP = 0x200D, 0x20E3


@dataclass
class EmojiDataset(ImageDataset):
    texts: list[str] = field(default_factory=list)  # the emoji of each image, e.g. "😀" or "👩‍🔬"


# ----------------------------------------------------------------------------- which emoji the font holds


def _is_skin_tone(code_point: int) -> bool:
    return 0x1F3FB <= code_point <= 0x1F3FF


def _is_private(code_point: int) -> bool:
    # Noto keeps Google's old private-use code points as aliases of real emoji.
    return 0xE000 <= code_point <= 0xF8FF or code_point >= 0xF0000


def _starts_an_emoji(code_point: int, single: bool) -> bool:
    """Whether an emoji may begin with this code point (alone when `single`)."""
    joiners = (ZWJ, KEYCAP, 0xFE0E, 0xFE0F)
    if code_point in joiners or _is_skin_tone(code_point) or 0xE0000 <= code_point <= 0xE007F:
        return False
    # Alone, ASCII ("#", "1", space) and the regional-indicator letters draw as plain letters or nothing.
    return not single or (code_point >= 0xA9 and not 0x1F1E6 <= code_point <= 0x1F1FF)


def font_emoji(font_path: str | Path = EMOJI_FONT) -> list[str]:
    """One string per distinct glyph of the font (a code point or a sequence), in glyph order."""
    raw = _read_font(Path(font_path))
    try:
        tables = _table_offsets(raw)
        cmap, ligatures = _cmap(raw, tables), _ligatures(raw, tables)
    except struct.error:  # an offset points past the end of the file
        raise DcganError(f"{font_path} is damaged (truncated tables); reinstall fonts-noto-color-emoji") from None
    candidates: dict[int, list[tuple[int, ...]]] = {}
    code_point_of: dict[int, int] = {}  # glyph -> code point, preferring a real one to a private-use alias
    for code_point, glyph in cmap.items():
        candidates.setdefault(glyph, []).append((code_point,))
        if glyph not in code_point_of or not _is_private(code_point):
            code_point_of[glyph] = code_point
    for components, glyph in ligatures:
        if all(component in code_point_of for component in components):
            candidates.setdefault(glyph, []).append(tuple(code_point_of[c] for c in components))
    # Several sequences can name one glyph: private-use aliases, and the mirror image of every ZWJ
    # sequence (Noto adds them for right-to-left text). The font numbers its glyphs in sorted order
    # of their real sequences, so the real one is the smallest that does not go back in that order.
    emoji, previous = [], ()
    for glyph in sorted(candidates):
        options = sorted(candidates[glyph])
        sequence = next((option for option in options if option >= previous), options[0])
        previous = sequence
        if not any(map(_is_private, sequence)) and _starts_an_emoji(sequence[0], single=len(sequence) == 1):
            emoji.append("".join(map(chr, sequence)))
    return emoji


def _font_missing(font_path: Path) -> DcganError:
    return DcganError(
        f"the emoji font {font_path} is not installed: run `sudo apt install fonts-noto-color-emoji` "
        "(Debian/Ubuntu), or pass the path of NotoColorEmoji.ttf"
    )


def _read_font(font_path: Path) -> bytes:
    try:
        return font_path.read_bytes()
    except FileNotFoundError:
        raise _font_missing(font_path) from None
    except OSError as error:
        raise DcganError(f"cannot read the emoji font {font_path}: {error.strerror or error}") from None


def _table_offsets(raw: bytes) -> dict[str, int]:
    """The sfnt table directory: tag -> offset of the table in the file."""
    if len(raw) < 12 or raw[:4] not in (b"\x00\x01\x00\x00", b"true", b"OTTO"):
        raise DcganError("the emoji font is not a TrueType/OpenType file; reinstall fonts-noto-color-emoji")
    (count,) = struct.unpack_from(">H", raw, 4)
    entries = (struct.unpack_from(">4sIII", raw, 12 + 16 * index) for index in range(count))
    return {tag.decode("latin-1"): offset for tag, _checksum, offset, _length in entries}


def _cmap(raw: bytes, tables: dict[str, int]) -> dict[int, int]:
    """code point -> glyph id, from the cmap's format-12 subtable (the one that reaches past U+FFFF)."""
    base = tables.get("cmap")
    if base is None:
        raise DcganError("the emoji font has no cmap table; reinstall fonts-noto-color-emoji")
    (count,) = struct.unpack_from(">H", raw, base + 2)
    for index in range(count):
        offset = base + struct.unpack_from(">HHI", raw, base + 4 + 8 * index)[2]
        if struct.unpack_from(">H", raw, offset)[0] != 12:
            continue
        (groups,) = struct.unpack_from(">I", raw, offset + 12)
        mapping = {}
        for group in range(groups):
            first, last, glyph = struct.unpack_from(">III", raw, offset + 16 + 12 * group)
            mapping.update(zip(range(first, last + 1), range(glyph, glyph + last - first + 1), strict=True))
        return mapping
    raise DcganError("the emoji font has no format-12 cmap; is it really NotoColorEmoji.ttf?")


def _ligatures(raw: bytes, tables: dict[str, int]) -> list[tuple[tuple[int, ...], int]]:
    """(component glyphs, ligature glyph) of every GSUB ligature substitution (lookup type 4)."""
    gsub = tables.get("GSUB")
    if gsub is None:
        return []

    def u16(offset: int) -> int:
        return struct.unpack_from(">H", raw, offset)[0]

    lookups = gsub + u16(gsub + 8)
    found = []
    for lookup_index in range(u16(lookups)):
        lookup = lookups + u16(lookups + 2 + 2 * lookup_index)
        lookup_type = u16(lookup)
        for subtable_index in range(u16(lookup + 4)):
            subtable, kind = lookup + u16(lookup + 6 + 2 * subtable_index), lookup_type
            if kind == 7:  # an extension: points to the real subtable with a 32-bit offset
                kind = u16(subtable + 2)
                subtable += struct.unpack_from(">I", raw, subtable + 4)[0]
            if kind != 4:
                continue
            for position, first in enumerate(_coverage(raw, subtable + u16(subtable + 2))):
                ligature_set = subtable + u16(subtable + 6 + 2 * position)
                for ligature_index in range(u16(ligature_set)):
                    ligature = ligature_set + u16(ligature_set + 2 + 2 * ligature_index)
                    rest = [u16(ligature + 4 + 2 * k) for k in range(u16(ligature + 2) - 1)]
                    found.append(((first, *rest), u16(ligature)))
    return found


def _coverage(raw: bytes, offset: int) -> list[int]:
    """The glyph ids of an OpenType coverage table, in coverage-index order."""
    kind, count = struct.unpack_from(">HH", raw, offset)
    if kind == 1:
        return list(struct.unpack_from(f">{count}H", raw, offset + 4))
    glyphs = []
    for index in range(count):
        first, last, _start_index = struct.unpack_from(">HHH", raw, offset + 4 + 6 * index)
        glyphs.extend(range(first, last + 1))
    return glyphs


# ----------------------------------------------------------------------------- names and categories

# Unicode 15.0 emoji, for Pythons whose unicodedata is older (3.11 has Unicode 14), so that names and
# categories do not depend on the Python version.
_NEWER_NAMES = {
    0x1F6DC: "WIRELESS", 0x1FA75: "LIGHT BLUE HEART", 0x1FA76: "GREY HEART", 0x1FA77: "PINK HEART",
    0x1FA87: "MARACAS", 0x1FA88: "FLUTE", 0x1FAAD: "FOLDING HAND FAN", 0x1FAAE: "HAIR PICK", 0x1FAAF: "KHANDA",
    0x1FABB: "HYACINTH", 0x1FABC: "JELLYFISH", 0x1FABD: "WING", 0x1FABF: "GOOSE", 0x1FACE: "MOOSE",
    0x1FACF: "DONKEY", 0x1FADA: "GINGER ROOT", 0x1FADB: "PEA POD", 0x1FAE8: "SHAKING FACE",
    0x1FAF7: "LEFTWARDS PUSHING HAND", 0x1FAF8: "RIGHTWARDS PUSHING HAND",
}  # fmt: skip
_SKIN_TONES = ["light", "medium-light", "medium", "medium-dark", "dark"]


def code_point_name(code_point: int) -> str:
    """The Unicode name ("GRINNING FACE"), or "U+XXXX" when neither Python nor our table knows it."""
    return _NEWER_NAMES.get(code_point) or unicodedata.name(chr(code_point), f"U+{code_point:04X}")


def emoji_name(text: str) -> str:
    """A readable name: "grinning face", "woman, microscope", "thumbs up sign, medium skin tone", "flag FR"."""
    code_points = [ord(char) for char in text if ord(char) not in (ZWJ, 0xFE0F)]
    if code_points and all(0x1F1E6 <= c <= 0x1F1FF for c in code_points):
        return "flag " + "".join(chr(c - 0x1F1E6 + ord("A")) for c in code_points)
    if len(code_points) > 1 and all(0xE0020 <= c <= 0xE007F for c in code_points[1:]):
        return "flag " + "".join(chr(c - 0xE0000) for c in code_points[1:-1])  # tag letters: "gbsct"
    if KEYCAP in code_points:
        return "keycap " + "".join(chr(c) for c in code_points if c != KEYCAP)
    words = [
        f"{_SKIN_TONES[c - 0x1F3FB]} skin tone" if _is_skin_tone(c) else code_point_name(c).lower() for c in code_points
    ]
    return ", ".join(words)


# Runs of code points whose emoji share a category (checked first: "DOG FACE" is an animal, not a face).
_CATEGORY_RANGES = [
    (0x1F400, 0x1F43F, "animal"),  # RAT .. CHIPMUNK
    (0x1F980, 0x1F9AE, "animal"),  # CRAB .. GUIDE DOG
    (0x1F32D, 0x1F37F, "plant/food"),  # HOT DOG .. POPCORN
    (0x1F950, 0x1F96F, "plant/food"),  # CROISSANT .. BAGEL
    (0x1F9C0, 0x1F9CB, "plant/food"),  # CHEESE WEDGE .. BUBBLE TEA
    (0x1FAD0, 0x1FADF, "plant/food"),  # BLUEBERRIES .. PEA POD
]
# Then words of the first code point's name, in this order; the first hit wins, unless the name also
# holds one of the category's exceptions ("FACE PALM" is a person, "BULLET NOSE" a train).
_CATEGORY_WORDS = [
    ("face", {"FACE", "LAUGHING", "IMP", "SKULL", "OGRE", "GOBLIN", "GHOST", "ALIEN", "POO"},
     {"CLOCK", "PALM", "MASSAGE", "GESTURE", "PERSON"}),
    ("person/hand", {
        "PERSON", "PEOPLE", "MAN", "WOMAN", "BOY", "GIRL", "BABY", "CHILD", "ADULT", "FAMILY", "COUPLE", "KISS",
        "PRINCE", "PRINCESS", "FATHER", "MOTHER", "MAGE", "FAIRY", "VAMPIRE", "MERPERSON", "ELF", "GENIE",
        "ZOMBIE", "TROLL", "SUPERHERO", "SUPERVILLAIN", "NINJA", "OFFICER", "GUARDSMAN", "WORKER", "DANCER",
        "BRIDE", "SPY", "SKIER", "SNOWBOARDER", "SURFER", "SWIMMER", "RUNNER", "PEDESTRIAN", "BICYCLIST",
        "GOLFER", "LIFTER", "WRESTLERS", "JUGGLING", "FENCER", "POLO", "HANDBALL", "ROWBOAT", "BATH",
        "ACCOMMODATION", "HAIRCUT", "MASSAGE", "GESTURE", "SHRUG", "BUST", "BUSTS", "SPEAKING", "HAND", "HANDS",
        "HANDSHAKE", "PALM", "PALMS", "INDEX", "FINGER", "FINGERS", "THUMBS", "FIST", "HORNS", "BICEPS", "ARM",
        "LEG", "FOOT", "EAR", "NOSE", "EYE", "EYES", "TONGUE", "MOUTH", "LIP", "TOOTH", "BONE", "BRAIN", "LUNGS",
        "ANATOMICAL", "FOOTPRINTS", "NAIL", "SELFIE", "HAIR", "BALD", "PREGNANT", "BREAST",
    }, {"TRAIN", "TREE", "FAN", "PICK", "CARD"}),
    ("animal", {"DOVE", "SPIDER", "FLY", "WORM", "BEETLE", "COCKROACH", "FEATHER", "JELLYFISH", "WING",
                "GOOSE", "MOOSE", "DONKEY", "MONKEY", "NEST"}, set()),
    ("plant/food", {"FLOWER", "BOUQUET", "ROSETTE", "PLANT", "SHAMROCK", "LOTUS", "HYACINTH", "BEVERAGE",
                    "WOOD", "CHOPSTICKS", "JAR", "TEAPOT"}, {"CARDS"}),
    ("place/sky", {"SUN", "MOON", "STAR", "STARS", "CLOUD", "RAIN", "UMBRELLA", "SNOWMAN", "SNOWFLAKE",
                   "COMET", "RAINBOW", "MOUNTAIN", "VOLCANO", "CHURCH", "MOSQUE", "SYNAGOGUE", "KAABA", "SHRINE",
                   "FOUNTAIN", "FERRY", "SAILBOAT", "TENT", "AIRPLANE", "GLOBE", "EARTH", "MAP", "HOUSE",
                   "BUILDING", "CASTLE", "TOWER", "BRIDGE", "NIGHT", "SUNRISE", "SUNSET", "CITYSCAPE", "WAVE",
                   "TORNADO", "FOG", "VOLTAGE"}, {"DAVID", "POINTED", "PEN", "SPEAKER"}),
    ("object", {"WATCH", "HOURGLASS", "KEYBOARD", "CLOCK", "TELEPHONE", "PHONE", "HAMMER", "ANCHOR", "SWORDS",
                "ALEMBIC", "GEAR", "COFFIN", "URN", "BALL", "BASEBALL", "PICK", "HELMET", "CHAINS", "SKATE",
                "PUMP", "SCISSORS", "ENVELOPE", "PENCIL", "NIB", "PAWN", "BOW", "BANKNOTE", "MAILBOX"}, set()),
    ("symbol/flag", {"FLAG", "SIGN", "SYMBOL", "SQUARED", "ARROW", "ARROWS", "BUTTON", "KEYCAP", "HEART",
                     "HEARTS", "MARK", "CIRCLE", "SQUARE", "TRIANGLE", "DIAMOND", "SPARKLES", "SPARKLE"}, set()),
]  # fmt: skip
# Last: sky, transport and places, then what is left of the symbol blocks; the rest are objects.
_FALLBACK_RANGES = [
    (0x1F300, 0x1F320, "place/sky"),  # CYCLONE .. SHOOTING STAR
    (0x1F680, 0x1F6FF, "place/sky"),  # TRANSPORT AND MAP SYMBOLS
    (0x1F3D4, 0x1F3F0, "place/sky"),  # SNOW CAPPED MOUNTAIN .. EUROPEAN CASTLE
    (0x1F5FA, 0x1F5FF, "place/sky"),  # WORLD MAP .. MOYAI
    (0x2000, 0x2BFF, "symbol/flag"),  # punctuation, arrows, misc symbols, dingbats
    (0x3000, 0x33FF, "symbol/flag"),  # WAVY DASH, CIRCLED IDEOGRAPHs
    (0x1F170, 0x1F251, "symbol/flag"),  # enclosed letters and ideographs
]


def emoji_category(text: str) -> str:
    """A coarse category from CATEGORIES, from the sequence's shape and its first code point's name.

    Only people and hands take skin tones or a gender sign; flags and keycaps are symbols. Otherwise
    the first code point decides: a few Unicode ranges, then words of its name, then block fallbacks,
    else "object". Coarse by design (a few emoji land in a neighbouring class); faces and animals,
    which the class-mean demos use, are checked by the tests.
    """
    code_points = [ord(char) for char in text]
    first = code_points[0]
    if any(map(_is_skin_tone, code_points)) or (ZWJ in code_points and {0x2640, 0x2642} & set(code_points)):
        return "person/hand"
    if 0x1F1E6 <= first <= 0x1F1FF or KEYCAP in code_points or any(0xE0020 <= c <= 0xE007F for c in code_points):
        return "symbol/flag"
    for low, high, category in _CATEGORY_RANGES:
        if low <= first <= high:
            return category
    words = set(code_point_name(first).replace("-", " ").split())
    for category, keywords, exceptions in _CATEGORY_WORDS:
        if words & keywords and not words & exceptions:
            return category
    for low, high, category in _FALLBACK_RANGES:
        if low <= first <= high:
            return category
    return "object"


# ----------------------------------------------------------------------------- rendering


def render_emoji(texts: list[str], image_size: int, font_path: str | Path = EMOJI_FONT) -> tuple[np.ndarray, list[str]]:
    """(N, S, S, 3) uint8 images on white, and the texts drawn; texts that draw as more than one
    glyph (no ligature without libraqm) or as nothing are left out."""
    font = ImageFont.truetype(str(font_path), FONT_SIZE)
    # Every glyph of the font is one 136x128 bitmap; a page a quarter larger holds any one of them, so
    # we skip font.getbbox per emoji (it decodes the bitmap: a quarter of the time).
    left, top, right, bottom = font.getbbox("\U0001f600")
    one_glyph = font.getlength("\U0001f600") * 1.25  # wider than this: the sequence did not become one glyph
    page_size = (round((right - left) * 1.25), round((bottom - top) * 1.25))
    origin = (2 - left, 2 - top)
    images, drawn = [], []
    for text in texts:
        if font.getlength(text) > one_glyph:
            continue
        image = _render_one(font, text, image_size, page_size, origin)
        if image is not None:
            images.append(image)
            drawn.append(text)
    empty = np.zeros((0, image_size, image_size, 3), np.uint8)
    return (np.stack(images) if images else empty), drawn


def _render_one(
    font: ImageFont.FreeTypeFont, text: str, image_size: int, page_size: tuple[int, int], origin: tuple[int, int]
) -> np.ndarray | None:
    # Drawn straight onto white: Pillow blends the glyph's alpha into the page. Drawing on a transparent
    # canvas and compositing later would darken the anti-aliased edges (the paste blends with black).
    page = Image.new("RGB", page_size, "white")
    ImageDraw.Draw(page).text(origin, text, font=font, embedded_color=True)
    box = ImageChops.difference(page, Image.new("RGB", page_size, "white")).getbbox()
    if box is None or min(box[2] - box[0], box[3] - box[1]) < 4:
        return None  # blank: a glyph the font only maps (space, a joiner) or a missing one
    glyph = page.crop(box)
    side = round(max(glyph.size) * (1 + 2 * MARGIN))
    square = Image.new("RGB", (side, side), "white")
    square.paste(glyph, ((side - glyph.width) // 2, (side - glyph.height) // 2))
    square = square.resize((image_size, image_size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(square, dtype=np.uint8)


# ----------------------------------------------------------------------------- the cached dataset


def emoji_cache_path(image_size: int, font_path: str | Path = EMOJI_FONT) -> Path:
    """Where the pixels of `font_path` at `image_size` are cached; each font file has its own."""
    font_id = hashlib.sha256(str(Path(font_path).resolve()).encode()).hexdigest()[:10]
    return cache_dir() / "emoji" / f"{Path(font_path).stem}-{font_id}-{image_size}px.npz"


def load_emoji_pixels(image_size: int, font_path: str | Path = EMOJI_FONT) -> tuple[np.ndarray, list[str]]:
    """(N, S, S, 3) uint8 and the emoji texts, from the cache when it matches the font, else rendered."""
    font_path = Path(font_path)
    try:
        stat = font_path.stat()
    except FileNotFoundError:
        raise _font_missing(font_path) from None
    # The cache belongs to one font file, as seen by its size and mtime, and one renderer version.
    stamp = np.array([stat.st_size, stat.st_mtime_ns, RENDER_VERSION, image_size], dtype=np.int64)
    path = emoji_cache_path(image_size, font_path)
    cached = _read_cache(path, stamp)
    if cached is not None:
        return cached
    started = time.perf_counter()
    pixels, texts = render_emoji(font_emoji(font_path), image_size, font_path)
    log.info("rendered %d emoji at %dx%d in %.1f s", len(texts), image_size, image_size, time.perf_counter() - started)
    if not texts:
        raise DcganError(f"{font_path} drew no emoji; is it really a colour emoji font?")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:  # a file object: np.savez would add ".npz" to a path
            np.savez_compressed(out, pixels=pixels, texts=np.array(texts), stamp=stamp)

    atomic_write(path, write)
    return pixels, texts


def _read_cache(path: Path, stamp: np.ndarray) -> tuple[np.ndarray, list[str]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as cache:
            if not np.array_equal(cache["stamp"], stamp):
                return None
            return cache["pixels"], [str(text) for text in cache["texts"]]
    except (OSError, ValueError, KeyError) as error:  # damaged or foreign file: render again
        log.warning("ignoring the emoji cache %s: %s", path, error)
        return None


def load_emoji(
    image_size: int = 64,
    channels: int | None = 3,
    limit: int | None = None,
    font_path: str | Path | None = None,
    skin_tones: bool = True,
) -> EmojiDataset:
    """Noto Color Emoji as (N, 3, S, S) floats in [-1, 1] (channels=1: grey), labelled by CATEGORIES.

    skin_tones=False leaves out the 1.9k skin-tone variants of people and hands (then ~2k images).
    `limit` keeps the first N, in the font's order (single code points first, then sequences).
    """
    check_load_arguments(image_size, channels, limit)
    pixels, texts = load_emoji_pixels(image_size, EMOJI_FONT if font_path is None else font_path)
    keep = [index for index, text in enumerate(texts) if skin_tones or not any(_is_skin_tone(ord(c)) for c in text)]
    keep = keep[:limit]
    pixels, texts = pixels[keep], [texts[index] for index in keep]
    if channels == 1:
        # Pillow's RGB -> L weights (ITU-R 601), in fixed point as Pillow does it.
        weights = np.array([19595, 38470, 7471], dtype=np.uint32)
        pixels = ((pixels.astype(np.uint32) @ weights + 0x8000) >> 16).astype(np.uint8)[..., None]
    images = torch.from_numpy(np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))).float().div_(127.5).sub_(1.0)
    labels = torch.tensor([CATEGORIES.index(emoji_category(text)) for text in texts], dtype=torch.int64)
    return EmojiDataset(images, labels, list(CATEGORIES), "emoji", texts=texts)


# Names `load_dataset` knows -> whether the skin-tone variants are included.
EMOJI_DATASETS = {"emoji": True, "noto-emoji": True, "emoji-no-skin-tones": False}


def _canonical_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def is_emoji_dataset(name: str) -> bool:
    return _canonical_name(name) in EMOJI_DATASETS


def load_emoji_dataset(
    name: str,
    image_size: int,
    channels: int | None = None,
    limit: int | None = None,
    font_path: str | Path | None = None,
) -> EmojiDataset:
    """`load_dataset`'s entry: "emoji" (alias "noto-emoji") or "emoji-no-skin-tones"; `font_path` is its `path`."""
    canonical = _canonical_name(name)
    if canonical not in EMOJI_DATASETS:
        raise DcganError(f'unknown emoji dataset "{name}": use one of {", ".join(EMOJI_DATASETS)}')
    dataset = load_emoji(image_size, channels, limit, font_path=font_path, skin_tones=EMOJI_DATASETS[canonical])
    dataset.name = canonical
    return dataset
