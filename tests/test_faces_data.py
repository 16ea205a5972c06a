"""dcgan.data.faces: labelled facesjs cartoon faces as a dataset (the node renderer, balance, labels, the cache).

Rendering needs node and `npm ci --prefix scripts/faces` (scripts/test.sh runs it); those tests skip
only when node or npm is absent. The missing-renderer errors are checked without node.
"""

from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest

from dcgan.data import faces
from dcgan.data.faces import FACE_CLASSES, GLASSES_IDS, HAT_IDS, PLAIN_MOUTHS, SMILING_MOUTHS
from dcgan.data.loading import load_dataset
from dcgan.data.registry import registered_datasets
from dcgan.errors import DcganError

SIZE = 64
HAVE_NODE = shutil.which("node") is not None and shutil.which("npm") is not None
needs_node = pytest.mark.skipif(not HAVE_NODE, reason="node and npm are not installed (Node.js >= 18)")


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DCGAN_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def renderer():
    if not HAVE_NODE:
        pytest.skip("node and npm are not installed (Node.js >= 18)")
    if not (faces.RENDERER_DIR / "node_modules" / "facesjs").is_dir():
        pytest.fail("the faces renderer is not installed: run `npm ci --prefix scripts/faces` (scripts/test.sh does)")
    return faces.check_renderer()


@pytest.fixture(scope="module")
def rendered(renderer):
    """The first 400 faces at 64x64 and their face objects."""
    return faces.render_faces(0, 400, SIZE)


# ----------------------------------------------------------------------------- determinism


def test_same_faces_every_render(renderer, rendered):
    pixels, objects = rendered
    again, again_objects = faces.render_faces(0, 24, SIZE, workers=1)
    assert again.tobytes() == pixels[:24].tobytes()
    assert again_objects == objects[:24]


def test_renders_are_prefix_stable_and_chunks_agree(renderer, rendered):
    pixels, objects = rendered
    middle, middle_objects = faces.render_faces(100, 20, SIZE, workers=1)  # faces 100..119 alone
    assert middle.tobytes() == pixels[100:120].tobytes()
    assert middle_objects == objects[100:120]
    split, _ = faces.render_faces(0, 40, SIZE, workers=2)  # two processes, one chunk each
    assert split.tobytes() == pixels[:40].tobytes()
    seeded, _ = faces.render_faces(0, 8, SIZE, seed=1, workers=1)
    assert seeded.tobytes() != pixels[:8].tobytes()


def test_first_faces_of_a_larger_load_are_a_smaller_load(renderer):
    small = faces.load_faces(SIZE, limit=16)
    large = faces.load_faces(SIZE, limit=48)
    assert np.array_equal(small.images.numpy(), large.images[:16].numpy())
    assert np.array_equal(small.labels.numpy(), large.labels[:16].numpy())


# ----------------------------------------------------------------------------- labels and balance


def test_labels_follow_the_attributes(renderer, rendered):
    _, objects = rendered
    attributes = faces.face_attributes(objects)
    labels = faces.face_labels(attributes)
    for index in range(0, 400, 7):
        face = objects[index]
        name = FACE_CLASSES[labels[index]]
        assert name.startswith("woman" if face["gender"] == "female" else "man")
        assert ("glasses" in name) == (face["glasses"]["id"] != "none")
        assert ("smiling" in name) == (face["mouth"]["id"] in SMILING_MOUTHS)
    assert all(face["glasses"]["id"] in (*GLASSES_IDS, "none") for face in objects)
    assert all(face["mouth"]["id"] in SMILING_MOUTHS + PLAIN_MOUTHS for face in objects)
    assert not attributes["facial_hair"][attributes["female"]].any(), "facesjs draws no beards on women"
    assert np.array_equal(attributes["hat"], [face["accessories"]["id"] in HAT_IDS for face in objects])


def test_the_balance(renderer, rendered):
    _, objects = rendered
    attributes = faces.face_attributes(objects)
    labels = faces.face_labels(attributes)
    assert np.bincount(labels, minlength=8).tolist() == [50] * 8  # every 8 faces hold each class once
    female, glasses, smiling = attributes["female"], attributes["glasses"], attributes["smiling"]
    assert female.mean() == glasses.mean() == smiling.mean() == 0.5
    assert glasses[female].mean() == glasses[~female].mean() == 0.5  # independent of gender
    assert 0.25 < attributes["facial_hair"][~female].mean() < 0.75  # facesjs: half the men
    assert 0.04 < attributes["hat"].mean() < 0.25  # facesjs: 20% accessories, 4 of 7 of them hats
    assert set(np.unique(attributes["skin_tone"])) == set(range(len(faces.SKIN_TONES)))
    assert len(np.unique(attributes["hair_color"])) >= 4
    # and the classes are not in a fixed order: the 8 of each block are shuffled
    assert len({tuple(labels[start : start + 8]) for start in range(0, 400, 8)}) > 40


# ----------------------------------------------------------------------------- what the labels look like


def _plain_face(objects: list[dict]) -> dict:
    """A face without glasses, hat or smile, to change one thing of."""
    for face in objects:
        if (
            face["glasses"]["id"] == "none"
            and face["accessories"]["id"] == "none"
            and face["mouth"]["id"] in PLAIN_MOUTHS
        ):
            return copy.deepcopy(face)
    raise AssertionError("no plain face among the first faces")


def test_glasses_and_smiles_change_their_part_of_the_face(renderer, rendered):
    pixels, objects = rendered
    face = _plain_face(objects)
    index = objects.index(face)
    with_glasses, smiling = copy.deepcopy(face), copy.deepcopy(face)
    with_glasses["glasses"]["id"] = "glasses1-primary"
    smiling["mouth"]["id"] = "smile"
    plain, glasses, smile = faces.render_face_objects([face, with_glasses, smiling], SIZE).astype(int)
    assert np.array_equal(plain, pixels[index]), "drawing a face's recorded object gives its picture"
    glasses_change = np.abs(glasses - plain).sum(-1)
    assert glasses_change[32:44, 14:50].mean() > 20, "the glasses should show across the eyes"
    assert glasses_change[48:].max() == 0 and glasses_change[:28].max() == 0  # not the mouth, not the hair
    smile_change = np.abs(smile - plain).sum(-1)
    assert smile_change[52:60, 24:40].mean() > 20, "the smile should show in the mouth"
    assert smile_change[:48].max() == 0 and smile_change[:, :20].max() == 0  # not the eyes, not the cheeks


# ----------------------------------------------------------------------------- the dataset and its cache


def test_load_faces_and_its_cache(renderer, tmp_cache, rendered, monkeypatch):
    dataset = load_dataset("faces", SIZE, limit=40)
    assert isinstance(dataset, faces.FacesDataset)
    assert dataset.images.shape == (40, 3, SIZE, SIZE) and dataset.name == "faces"
    assert dataset.class_names == FACE_CLASSES
    assert -1.0 <= dataset.images.min() and dataset.images.max() == 1.0  # white background
    expected = rendered[0][:40].transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1
    assert np.allclose(dataset.images.numpy(), expected)
    assert np.array_equal(dataset.labels.numpy(), faces.face_labels(dataset.attributes))
    assert set(dataset.attributes) == {*faces.BINARY_ATTRIBUTES, "hair_color", "skin_tone"}
    assert list((tmp_cache / "faces").glob("*.npz")), "the rendering should have been cached"

    def no_rendering(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(faces, "render_faces", no_rendering)
    again = load_dataset("faces", SIZE, limit=40)
    assert np.array_equal(again.images.numpy(), dataset.images.numpy())
    fewer = load_dataset("faces", SIZE, limit=10)  # read from the cache of 40: renders are prefix-stable
    assert np.array_equal(fewer.images.numpy(), dataset.images[:10].numpy())
    assert np.array_equal(fewer.attributes["skin_tone"], dataset.attributes["skin_tone"][:10])
    grey = faces.load_faces(SIZE, channels=1, limit=10)
    assert grey.images.shape == (10, 1, SIZE, SIZE)


def test_registered():
    spec = next(spec for spec in registered_datasets() if spec.name == "faces")
    assert spec.class_names == tuple(FACE_CLASSES) and len(FACE_CLASSES) == 8
    assert spec.image_size == 64 and spec.channels == 3 and spec.train_images == faces.FACES_COUNT
    assert spec.classifier == "faces-judge" and not spec.in_app


# ----------------------------------------------------------------------------- without the renderer


def test_without_node_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(faces, "NODE", "no-such-node-binary")
    with pytest.raises(DcganError, match=r"Node\.js.*npm ci --prefix scripts/faces"):
        faces.load_faces(SIZE, limit=8)


@needs_node
def test_without_the_packages_the_error_says_what_to_install(monkeypatch, tmp_path):
    bare = tmp_path / "renderer"
    bare.mkdir()
    shutil.copy(faces.RENDERER_DIR / "render.mjs", bare / "render.mjs")
    monkeypatch.setattr(faces, "RENDERER_DIR", bare)
    with pytest.raises(DcganError, match=r"npm ci --prefix scripts/faces"):
        faces.load_faces(SIZE, limit=8)


def test_a_damaged_cache_is_rendered_again_not_trusted(tmp_cache, monkeypatch):
    path = faces.faces_cache_path(8, SIZE)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    monkeypatch.setattr(faces, "NODE", "no-such-node-binary")
    with pytest.raises(DcganError, match="Node"):  # it tried to render again
        faces.load_faces(SIZE, limit=8)
