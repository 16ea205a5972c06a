"""The files of a model folder: config.json + model.safetensors (+ discriminator.safetensors).

Reading, checking and resolving a folder (local, or a Hugging Face Hub repo id) without building a
network, so that models.py (Generator.from_pretrained) can use it without importing checkpoints.py,
which imports models.py. Weights are only ever read with safetensors, so a malicious file cannot run
code; a file that does not match the config is a clear error.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from dcgan.errors import DcganError
from dcgan.io_utils import atomic_write
from dcgan.nets.config import ModelConfig, RunConfig
from dcgan.nets.limits import NetCost, check_model_files, weights_file_limit

CONFIG_FILE = "config.json"
GENERATOR_FILE = "model.safetensors"
DISCRIMINATOR_FILE = "discriminator.safetensors"
CARD_FILE = "README.md"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# What a Hub model folder is made of; nothing else is downloaded.
HUB_PATTERNS = [CONFIG_FILE, GENERATOR_FILE, DISCRIMINATOR_FILE, CARD_FILE, "*.png", "*.gif"]


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """Atomically write tensors (moved to CPU, made contiguous) as safetensors."""
    cpu_tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in tensors.items()}
    atomic_write(Path(path), lambda tmp: save_file(cpu_tensors, str(tmp), metadata=metadata))


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or corrupt file is a DcganError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DcganError(f"missing weights file {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise DcganError(f"{path} is not a readable safetensors file ({error}); re-download or re-export it") from None


def resolve_model_folder(path_or_hub_id: str | Path) -> Path:
    """A local folder as is; otherwise an 'owner/name' Hub repo id, fetched into the HF cache.

    Offline users (HF_HUB_OFFLINE=1) are served from the cache only.
    """
    local = Path(path_or_hub_id).expanduser()
    if local.is_dir():
        return local
    text = str(path_or_hub_id)
    if local.exists():
        raise DcganError(f"{text} is a file; a model is a folder with {CONFIG_FILE} and {GENERATOR_FILE}")
    if not HUB_ID.match(text):
        raise DcganError(f"no model folder at {text} (and it is not a Hugging Face Hub id like 'owner/name')")
    # huggingface_hub is imported here, not at the top: ~0.3 s, and only Hub ids need it.
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        if constants.HF_HUB_OFFLINE:  # the cache only; what is in it was checked when it was fetched
            return Path(snapshot_download(text, allow_patterns=HUB_PATTERNS))
        try:
            revision = _checked_hub_revision(text)
        except (HfHubHTTPError, DcganError):
            raise
        except Exception:  # the Hub is unreachable (no network, a timeout): serve the cache, as offline
            return Path(snapshot_download(text, allow_patterns=HUB_PATTERNS, local_files_only=True))
        # Exactly the revision whose sizes were checked, even if the repo changes meanwhile.
        return Path(snapshot_download(text, revision=revision, allow_patterns=HUB_PATTERNS))
    except (LocalEntryNotFoundError, RepositoryNotFoundError, HfHubHTTPError, OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DcganError(f"could not get model {text!r} from the Hugging Face Hub: {first_line}") from None


def _checked_hub_revision(repo_id: str) -> str | None:
    """The commit of `repo_id` whose model files passed `check_hub_file_sizes`; DcganError if they do not."""
    from huggingface_hub import HfApi  # lazy: only Hub ids need it (see resolve_model_folder)

    info = HfApi().model_info(repo_id, files_metadata=True)
    check_hub_file_sizes(repo_id, [(sibling.rfilename, sibling.size) for sibling in info.siblings or []])
    return info.sha


def check_hub_file_sizes(repo_id: str, files: list[tuple[str, int | None]]) -> None:
    """DcganError if the files of a Hub repo that we would download ((name, size) pairs) are too large."""
    from huggingface_hub.utils import filter_repo_objects  # lazy: only Hub ids need it

    wanted = list(filter_repo_objects(files, allow_patterns=HUB_PATTERNS, key=lambda item: item[0]))
    check_model_files(f"Hub model {repo_id!r}", wanted)


def load_run_config(path_or_hub_id: str | Path) -> tuple[Path, RunConfig]:
    folder = resolve_model_folder(path_or_hub_id)
    return folder, RunConfig.load(folder / CONFIG_FILE)


def check_weights_file_size(path: Path, config: ModelConfig, cost: NetCost) -> None:
    """DcganError if a weights file is larger than its (validated) config's tensors can be: read nothing."""
    if not path.is_file():
        return  # load_tensors names the missing file
    size, limit = path.stat().st_size, weights_file_limit(cost)
    if size > limit:
        raise DcganError(
            f"{path.parent.name}/{path.name} is {size / 2**20:,.1f} MB, but the {config.family} model its "
            f"{CONFIG_FILE} describes ({cost.parameters:,} parameters) fits in {limit / 2**20:,.1f} MB; the "
            "folder's files do not belong together: re-export or re-download it"
        )


def load_state_strict(module: nn.Module, tensors: dict[str, torch.Tensor], source: Path) -> None:
    """load_state_dict, but every missing, unexpected or mis-shaped tensor is named in one error."""
    expected = module.state_dict()
    problems = []
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    for name in sorted(set(expected) & set(tensors)):
        if expected[name].shape != tensors[name].shape:
            problems.append(f"{name} has shape {tuple(tensors[name].shape)}, config says {tuple(expected[name].shape)}")
    if problems:
        raise DcganError(f"{source} does not match its config.json: " + "; ".join(problems[:6]))
    module.load_state_dict(tensors, strict=True)
