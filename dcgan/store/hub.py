"""Publishing a model folder to the Hugging Face Hub, where `Generator.from_pretrained("owner/name")` finds it.

The login is huggingface_hub's own: the HF_TOKEN variable, or the cache `hf auth login` writes. This
module never reads, passes, prints or logs a token, and scrubs HF_TOKEN's value from any error it
reports. Only a model folder's own files (config.json, the safetensors, the card, sample images:
model_files.HUB_PATTERNS) are uploaded, and only after the folder loads as a model.
"""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from dcgan.errors import DcganError
from dcgan.nets.models import Generator
from dcgan.store.model_files import HUB_ID, HUB_PATTERNS


def hub_files(folder: Path) -> list[str]:
    """The files of `folder` (top level only) that a Hub model repo gets."""
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_file())
    return [name for name in names if any(fnmatch.fnmatch(name, pattern) for pattern in HUB_PATTERNS)]


def push_to_hub(folder: str | Path, repo_id: str, private: bool = False) -> str:
    """Upload a model folder to the Hub model repo `repo_id` (created if missing); returns its URL."""
    folder = Path(folder)
    if not HUB_ID.match(repo_id):
        raise DcganError(f"--push-to-hub takes a Hub repo id like 'owner/name', got {repo_id!r}")
    Generator.from_pretrained(folder, device="cpu")  # a folder that does not load is not published
    files = hub_files(folder)
    # huggingface_hub is imported here, not at the top: ~0.3 s, and only publishing needs it.
    from huggingface_hub import HfApi

    api = HfApi()  # no token argument: huggingface_hub finds the user's login itself
    try:
        api.create_repo(repo_id, private=private, repo_type="model", exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            allow_patterns=files,
            commit_message=f"Upload {folder.name} with DCGAN Explorer",
        )
    except Exception as error:  # HTTP errors, no login, no network: one line for the user, no traceback
        raise DcganError(f"could not publish to the Hub as {repo_id}: {_first_line(error)}. {LOGIN_HINT}") from None
    return f"https://huggingface.co/{repo_id}"


LOGIN_HINT = "Log in with `hf auth login`, or set HF_TOKEN to a token with write access"


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    token = os.environ.get("HF_TOKEN")
    return text.replace(token, "***") if token else text
