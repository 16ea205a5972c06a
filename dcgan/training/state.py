"""The full training state as one safetensors file, so a resumed run continues exactly.

Holds G, D, both Adam states, the step, every RNG state and the fixed noise. Safetensors
(not pickle) so that loading a run directory someone sent you cannot run code; the
non-tensor parts (step, optimizer hyper-parameters) ride along as JSON metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from dcgan.errors import DcganError
from dcgan.store.model_files import load_tensors, save_tensors

STATE_FILE = "training_state.safetensors"


@dataclass
class TrainState:
    step: int
    generator: dict[str, torch.Tensor]
    discriminator: dict[str, torch.Tensor]
    optimizer_g: dict
    optimizer_d: dict
    rng: dict[str, torch.Tensor]  # name -> ByteTensor from get_state()
    fixed_noise: torch.Tensor  # (n_fixed, nz)
    ema_generator: dict[str, torch.Tensor] | None = None  # the moving average of G, when TrainConfig.ema > 0


def _flatten_optimizer(prefix: str, state_dict: dict) -> tuple[dict[str, torch.Tensor], list]:
    tensors = {}
    for param_index, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            tensors[f"{prefix}.{param_index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
    groups = [
        {k: v for k, v in group.items() if k != "params"} | {"params": group["params"]}
        for group in state_dict["param_groups"]
    ]
    return tensors, groups


def _unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], groups: list) -> dict:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            _, param_index, key = name.split(".", 2)
            state.setdefault(int(param_index), {})[key] = value
    return {"state": state, "param_groups": groups}


def save_train_state(path: Path, state: TrainState) -> None:
    tensors: dict[str, torch.Tensor] = {}
    tensors |= {f"g.{k}": v for k, v in state.generator.items()}
    tensors |= {f"d.{k}": v for k, v in state.discriminator.items()}
    opt_g, groups_g = _flatten_optimizer("opt_g", state.optimizer_g)
    opt_d, groups_d = _flatten_optimizer("opt_d", state.optimizer_d)
    tensors |= opt_g | opt_d
    tensors |= {f"rng.{k}": v for k, v in state.rng.items()}
    tensors["fixed_noise"] = state.fixed_noise
    tensors |= {f"ema.{k}": v for k, v in (state.ema_generator or {}).items()}
    metadata = {"step": str(state.step), "groups_g": json.dumps(groups_g), "groups_d": json.dumps(groups_d)}
    save_tensors(path, tensors, metadata=metadata)


def load_train_state(path: Path) -> TrainState:
    tensors = load_tensors(path)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    try:
        step = int(metadata["step"])
        groups_g, groups_d = json.loads(metadata["groups_g"]), json.loads(metadata["groups_d"])
        fixed_noise = tensors["fixed_noise"]
    except (KeyError, ValueError) as error:
        raise DcganError(f"{path} is not a training state written by this program ({error})") from None

    def section(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}

    return TrainState(
        step=step,
        generator=section("g."),
        discriminator=section("d."),
        optimizer_g=_unflatten_optimizer("opt_g", tensors, groups_g),
        optimizer_d=_unflatten_optimizer("opt_d", tensors, groups_d),
        rng=section("rng."),
        fixed_noise=fixed_noise,
        ema_generator=section("ema.") or None,
    )
