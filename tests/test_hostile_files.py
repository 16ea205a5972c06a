"""Hostile model files (issue 12, items 1-2): refused from what they claim, before anything is allocated.

The bombs are built here, small and fast: a torch zip whose tensor record is ~3.4 MB of DEFLATE
claiming 3.4 GB, pickles whose storages claim 3.4 GB, model zips with absurd configs or members
that lie about their size. Loads that would allocate run in a child process limited to 3 GB of
address space, so a regression fails the test instead of taking the machine down.
"""

from __future__ import annotations

import collections
import io
import json
import pickle
import re
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dcgan.errors import DcganError
from dcgan.interop.foreign_files import read_foreign_state_dict
from dcgan.nets.config import ModelConfig, RunConfig
from dcgan.nets.models import Generator
from dcgan.serve.model_uploads import _copy_member, import_upload
from dcgan.store import checkpoints
from dcgan.store.checkpoints import save_model_folder

ROOT = Path(__file__).resolve().parent.parent
CHILD_MEMORY = 3 * 2**30  # address space of the child that loads a bomb
MIB = 2**20
BOMB_BYTES = 3400 * MIB  # more than the child may have; below 4 GiB, so no zip64 records needed
TINY = ModelConfig(image_size=32, nc=1, nz=8, ngf=4, ndf=4)


# ---------------------------------------------------------------------------- building bombs


def zero_deflate(claimed: int) -> bytes:
    """A raw DEFLATE stream that inflates to `claimed` zero bytes (a multiple of 1 MiB), built in ms.

    After a full flush the compressor starts afresh, so every MiB of zeros compresses to the same
    ~1 KB: the stream is that block repeated, then the final empty block.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (claimed // MIB) + compressor.flush()


@dataclass
class Member:
    name: str
    data: bytes
    method: int = zipfile.ZIP_STORED
    size: int | None = None  # what the headers claim unpacked; default len(data)
    crc: int | None = None  # default: the CRC of data (a bomb's is only checked after inflating)


def write_zip(path: Path, members: list[Member]) -> None:
    """A zip written byte by byte, so that its headers can say whatever a hostile file says."""
    out, central = io.BytesIO(), io.BytesIO()
    for member in members:
        name = member.name.encode()
        size = len(member.data) if member.size is None else member.size
        crc = zlib.crc32(member.data) if member.crc is None else member.crc
        offset = out.tell()
        fields = (20, 0, member.method, 0, 0x21, crc, len(member.data), size, len(name), 0)
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + name + member.data)
        central.write(struct.pack("<4sH5H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, offset) + name)
    directory = central.getvalue()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), out.tell(), 0)
    path.write_bytes(out.getvalue() + directory + end)


class ClaimedStorage:
    """Pickled as torch pickles a storage: a persistent id that claims `numel` float32 values."""

    def __init__(self, key: str, numel: int):
        self.key, self.numel = key, numel


class ClaimedTensor:
    def __init__(self, storage: ClaimedStorage):
        self.storage = storage

    def __reduce__(self):
        args = (self.storage, 0, (self.storage.numel,), (1,), False, collections.OrderedDict())
        return torch._utils._rebuild_tensor_v2, args


class TorchLikePickler(pickle.Pickler):
    def __init__(self, file, legacy: bool):
        super().__init__(file, protocol=2)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, ClaimedStorage):
            return None
        saved_id = ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return saved_id + (None,) if self.legacy else saved_id  # legacy ids end with view metadata


def torch_pickle(numel: int, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    TorchLikePickler(buffer, legacy).dump({"main.0.weight": ClaimedTensor(ClaimedStorage("0", numel))})
    return buffer.getvalue()


def torch_zip_members(tmp_path: Path) -> list[Member]:
    """The records of a real torch.save zip of a tiny state dict (key "0" holds main.0.weight)."""
    path = tmp_path / "real.pth"
    torch.save({"main.0.weight": torch.zeros(4)}, path)
    with zipfile.ZipFile(path) as archive:
        return [Member(info.filename, archive.read(info)) for info in archive.infolist()]


def deflate_bomb_pth(tmp_path: Path) -> Path:
    """Issue 12's bomb: tensor record data/0 stored DEFLATE-compressed, claiming BOMB_BYTES (so does the pickle)."""
    members = []
    for member in torch_zip_members(tmp_path):
        if member.name.endswith("/data.pkl"):
            member = Member(member.name, torch_pickle(BOMB_BYTES // 4))
        elif member.name.endswith("/data/0"):
            member = Member(member.name, zero_deflate(BOMB_BYTES), zipfile.ZIP_DEFLATED, BOMB_BYTES, crc=0)
        members.append(member)
    path = tmp_path / "bomb.pth"
    write_zip(path, members)
    return path


def pickle_claim_pth(tmp_path: Path) -> Path:
    """An honest 16-byte record, but a pickle that claims its storage holds BOMB_BYTES."""
    members = [
        Member(m.name, torch_pickle(BOMB_BYTES // 4)) if m.name.endswith("/data.pkl") else m
        for m in torch_zip_members(tmp_path)
    ]
    path = tmp_path / "claims.pth"
    write_zip(path, members)
    return path


def legacy_claim_pth(tmp_path: Path, claimed: int = BOMB_BYTES) -> Path:
    """The pre-1.6 format (pickles, then raw storages) whose one storage claims `claimed` bytes."""
    from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

    buffer = io.BytesIO()
    for value in (MAGIC_NUMBER, PROTOCOL_VERSION, {"protocol_version": PROTOCOL_VERSION, "little_endian": True}):
        pickle.dump(value, buffer, protocol=2)
    buffer.write(torch_pickle(claimed // 4, legacy=True))
    pickle.dump(["0"], buffer, protocol=2)
    buffer.write(struct.pack("<q", claimed // 4) + bytes(64))  # the size again, then (too few) bytes
    path = tmp_path / "legacy-claims.pth"
    path.write_bytes(buffer.getvalue())
    return path


def model_zip(tmp_path: Path, model_values: dict, name: str = "model.zip") -> Path:
    """Our folder format as an upload, with a config.json saying `model_values` and tiny real weights."""
    folder = save_model_folder(tmp_path / "source", Generator(TINY), RunConfig(TINY))
    config = RunConfig(TINY).to_dict()
    config["model"].update(model_values)
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.write(folder / "model.safetensors", "model.safetensors")
    return path


# ---------------------------------------------------------------------------- running loads in a child

CHILD = """
import json, resource, sys, time
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import torch
from dcgan.errors import DcganError
from dcgan.serve.model_uploads import import_upload
for upload, uploads_dir, control in json.loads(sys.argv[2]):
    result = {}
    start = time.perf_counter()
    try:
        import_upload(upload, uploads_dir)
        result["refused"] = None
    except DcganError as error:
        result["refused"] = str(error)
    result["seconds"] = time.perf_counter() - start
    if control:  # the same file given to torch.load unprotected: proof that it is a bomb
        try:
            torch.load(upload, map_location="cpu", weights_only=True)
            result["raw"] = "loaded"
        except BaseException as error:
            result["raw"] = f"{type(error).__name__}: {error}"
    print(json.dumps(result), flush=True)
"""


def uploads_in_child(jobs: list[tuple[Path, Path, bool]]) -> list[dict]:
    """import_upload(upload, uploads_dir) for each job, in one python limited to CHILD_MEMORY.

    Each result says what was refused and how fast; with control, what torch.load did with the file.
    """
    for _, uploads_dir, _ in jobs:
        uploads_dir.mkdir(parents=True, exist_ok=True)
    args = [str(CHILD_MEMORY), json.dumps([[str(upload), str(folder), control] for upload, folder, control in jobs])]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.strip().splitlines()]


# ---------------------------------------------------------------------------- the tests


def test_zero_deflate_is_a_valid_stream() -> None:
    stream = zero_deflate(8 * MIB)
    assert len(stream) < 8 * MIB / 500
    assert zlib.decompress(stream, -15) == bytes(8 * MIB)


BOMBS = {
    "deflate-record": (deflate_bomb_pth, r"bomb.pth: record real/data/0 claims 3,400 MB unpacked; the limit is 552 MB"),
    "pickle-claim": (pickle_claim_pth, r"claims.pth: its tensors claim 3,400 MB; the limit is 552 MB"),
    "legacy-pickle-claim": (legacy_claim_pth, r"legacy-claims.pth: its tensors claim 3,400 MB; the limit is 552 MB"),
    "model-zip-ngf-5000": (
        lambda folder: model_zip(folder, {"ngf": 5000}),
        "ngf is 5000; it must be between 1 and 1024",
    ),
}


@pytest.fixture(scope="module")
def bomb_results(tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """Every bomb uploaded in one memory-limited child (one torch import): {name: (result, uploads folder)}."""
    jobs, names = [], list(BOMBS)
    for name in names:
        folder = tmp_path_factory.mktemp(name)
        bomb = BOMBS[name][0](folder)
        assert bomb.stat().st_size < 5 * MIB
        # torch 2.13 compares a zip record's size with its pickle's claim before allocating, so only
        # the other two .pth files are real bombs for it; we check all three (older torch does not).
        jobs.append((bomb, folder / "uploads", name in ("deflate-record", "legacy-pickle-claim")))
    results = uploads_in_child(jobs)
    return {name: (result, job[1]) for name, result, job in zip(names, results, jobs, strict=True)}


@pytest.mark.parametrize("name", list(BOMBS))
def test_bombs_are_refused_before_anything_is_allocated(bomb_results, name: str) -> None:
    result, uploads_dir = bomb_results[name]
    message = BOMBS[name][1]
    assert result["refused"] is not None and re.search(message, result["refused"]), result["refused"]
    assert result["seconds"] < 20
    assert list(uploads_dir.iterdir()) == []  # nothing kept
    if "raw" in result:
        # Proof the .pth is a bomb: torch.load itself tries to allocate the claim, which the child cannot.
        assert "allocate" in result["raw"].lower() or "MemoryError" in result["raw"], result["raw"]


def test_a_pickle_claim_beyond_its_record_is_refused(tmp_path: Path) -> None:
    # Within the size limit (100 MB), but the record holds 16 bytes: torch would allocate the claim.
    members = [
        Member(m.name, torch_pickle(25 * MIB)) if m.name.endswith("/data.pkl") else m
        for m in torch_zip_members(tmp_path)
    ]
    write_zip(tmp_path / "liar.pth", members)
    with pytest.raises(DcganError, match=r"storage '0' claims 104,857,600 bytes but the file has a 16-byte record"):
        read_foreign_state_dict(tmp_path / "liar.pth")


def test_a_bomb_is_refused_by_the_cli_import_path_too(tmp_path: Path) -> None:
    with pytest.raises(DcganError, match="claims 3,400 MB unpacked"):
        read_foreign_state_dict(deflate_bomb_pth(tmp_path))  # refused before torch.load: safe in-process
    with pytest.raises(DcganError, match="its tensors claim 3,400 MB"):
        read_foreign_state_dict(legacy_claim_pth(tmp_path))


def test_a_legacy_claim_beyond_the_file_is_refused(tmp_path: Path) -> None:
    # Within the size limit, but the file holds 72 bytes after its pickles: torch would allocate 100 MB first.
    with pytest.raises(DcganError, match="its tensors claim 104,857,600 bytes but the file holds only 72 after them"):
        read_foreign_state_dict(legacy_claim_pth(tmp_path, 100 * MIB))


def test_a_compressed_record_with_an_absurd_ratio_is_refused(tmp_path: Path) -> None:
    # 64 MB of zeros: within the size limits, but no torch.save ever wrote it (torch never compresses).
    members = [
        Member(m.name, zero_deflate(64 * MIB), zipfile.ZIP_DEFLATED, 64 * MIB) if m.name.endswith("/data/0") else m
        for m in torch_zip_members(tmp_path)
    ]
    write_zip(tmp_path / "ratio.pth", members)
    with pytest.raises(DcganError, match=r"claims 67,108,864 unpacked, more than 20x; torch.save never compresses"):
        read_foreign_state_dict(tmp_path / "ratio.pth")


def test_an_oversized_safetensors_header_is_refused(tmp_path: Path) -> None:
    header = b"{" + b" " * (2 * MIB) + b"}"
    path = tmp_path / "header.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(16))
    with pytest.raises(DcganError, match=r"claims a 2,097,154-byte safetensors header; the limit is 1,048,576"):
        read_foreign_state_dict(path)


def test_a_chain_with_stride_1000_is_refused(tmp_path: Path) -> None:
    layers = [
        {"out_channels": 8, "kernel": 4, "stride": 1, "padding": 0},
        {"out_channels": 1, "kernel": 4, "stride": 1000, "padding": 1},
    ]
    upload = model_zip(tmp_path, {"family": "chain", "image_size": 28, "layers": layers})
    start = time.perf_counter()
    with pytest.raises(DcganError, match="chain layer 1 stride is 1000; it must be between 1 and 4"):
        import_upload(upload, tmp_path / "uploads")
    assert time.perf_counter() - start < 5
    assert not (tmp_path / "uploads").exists() or list((tmp_path / "uploads").iterdir()) == []


def test_a_zip_member_that_lies_about_its_size_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    folder = save_model_folder(tmp_path / "source", Generator(TINY), RunConfig(TINY))
    config = (folder / "config.json").read_bytes() + b" " * (8 * MIB)  # valid JSON, 8 MB of it
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(config) + compressor.flush()
    upload = tmp_path / "liar.zip"
    write_zip(
        upload,
        [
            Member("model.safetensors", (folder / "model.safetensors").read_bytes()),
            Member("config.json", deflated, zipfile.ZIP_DEFLATED, size=900, crc=zlib.crc32(config)),
        ],
    )
    with pytest.raises(DcganError, match="config.json"):
        import_upload(upload, tmp_path / "uploads")
    assert list((tmp_path / "uploads").iterdir()) == []  # the half-unpacked folder is gone


def test_a_member_claiming_more_than_its_kind_allows_is_refused_unpacked(tmp_path: Path) -> None:
    upload = tmp_path / "big-config.zip"
    write_zip(
        upload,
        [
            Member("model.safetensors", b"x"),
            Member("config.json", zero_deflate(50 * MIB), zipfile.ZIP_DEFLATED, size=50 * MIB),
        ],
    )
    with pytest.raises(DcganError, match=r"config.json is 50\.0 MB; the limit for it is 1\.0 MB"):
        import_upload(upload, tmp_path / "uploads")
    assert not (tmp_path / "uploads").exists() or list((tmp_path / "uploads").iterdir()) == []


def test_unpacking_stops_at_the_claimed_size(tmp_path: Path) -> None:
    # Python 3.11's zipfile already truncates a member at its header's size; the copy must not rely on it.
    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            buffer[:] = bytes(len(buffer))
            return len(buffer)

    archive = SimpleNamespace(open=lambda info: io.BufferedReader(Endless()))
    info = zipfile.ZipInfo("model.safetensors")
    info.file_size = 3 * MIB
    with pytest.raises(DcganError, match="unpacks to more than the 3,145,728 bytes it claims"):
        _copy_member(tmp_path / "upload.zip", archive, info, tmp_path / "out")
    assert (tmp_path / "out").stat().st_size <= 3 * MIB


class ExamplesGenerator(nn.Sequential):
    """pytorch/examples dcgan/main.py's generator layout at ngf 4, 32x32."""

    def __init__(self) -> None:
        super().__init__(
            nn.ConvTranspose2d(16, 16, 4, 1, 0, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(True),
            nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(True),
            nn.ConvTranspose2d(8, 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(4),
            nn.ReLU(True),
            nn.ConvTranspose2d(4, 3, 4, 2, 1, bias=False),
            nn.Tanh(),
        )


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_honest_pth_files_still_import(tmp_path: Path, zip_format: bool) -> None:
    path = tmp_path / "netG.pth"
    torch.save({"netG": ExamplesGenerator().state_dict(), "epoch": 3}, path, _use_new_zipfile_serialization=zip_format)
    folder = import_upload(path, tmp_path / "uploads")
    assert Generator.from_pretrained(folder, device="cpu")(torch.zeros(2, 16)).shape == (2, 3, 32, 32)


def fake_hub(monkeypatch, siblings: list[tuple[str, int | None]], model_info=None) -> list[dict]:
    """Replace the Hub with `siblings` (name, size); returns the snapshot_download calls made."""
    import huggingface_hub
    from huggingface_hub import constants

    calls: list[dict] = []

    def fake_model_info(self, repo_id, files_metadata=False, **kwargs):
        assert files_metadata
        return SimpleNamespace(sha="c0ffee", siblings=[SimpleNamespace(rfilename=n, size=s) for n, s in siblings])

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append(kwargs)
        raise huggingface_hub.errors.LocalEntryNotFoundError("not in the test's cache")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info or fake_model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    return calls


def test_a_hub_repo_with_oversized_files_is_refused_before_download(monkeypatch) -> None:
    calls = fake_hub(monkeypatch, [("config.json", 700), ("model.safetensors", 40 * 2**30)])
    with pytest.raises(DcganError, match=r"Hub model 'someone/bomb': model.safetensors is 40,960\.0 MB"):
        checkpoints.resolve_model_folder("someone/bomb")
    assert calls == []  # nothing was downloaded


def test_a_hub_repo_that_fits_is_fetched_at_the_checked_revision(monkeypatch) -> None:
    calls = fake_hub(monkeypatch, [("config.json", 700), ("model.safetensors", 4_000_000), ("data.bin", 10**12)])
    with pytest.raises(DcganError, match="not in the test's cache"):
        checkpoints.resolve_model_folder("teacher/fashion-dcgan")
    assert calls == [{"revision": "c0ffee", "allow_patterns": checkpoints.HUB_PATTERNS}]


def test_an_unreachable_hub_serves_the_cache_only(monkeypatch) -> None:
    def unreachable(self, repo_id, **kwargs):
        raise ConnectionError("Name or service not known")

    calls = fake_hub(monkeypatch, [], model_info=unreachable)
    with pytest.raises(DcganError, match="not in the test's cache"):
        checkpoints.resolve_model_folder("teacher/fashion-dcgan")
    assert calls == [{"allow_patterns": checkpoints.HUB_PATTERNS, "local_files_only": True}]


def test_the_child_memory_limit_is_real() -> None:
    # The bomb tests rely on RLIMIT_AS being enforced here (it is not, e.g., under some sanitizers).
    limit = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({CHILD_MEMORY}, {CHILD_MEMORY}))"
    done = subprocess.run([sys.executable, "-c", f"{limit}; b = bytes({BOMB_BYTES})"], capture_output=True, text=True)
    assert done.returncode != 0 and "MemoryError" in done.stderr
