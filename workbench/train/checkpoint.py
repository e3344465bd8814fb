"""Checkpoints: model and optimiser state in one safetensors file, written atomically.

Loading never unpickles: tensors come from safetensors and everything else (the optimiser's
param-group settings, the step, RNG seeds) from JSON in the file's metadata. A checkpoint that
cannot be read raises :class:`CheckpointError` naming the file; other checkpoints are untouched.

Importing this module does not import torch: :func:`read_checkpoint_record` (the one reader of a
checkpoint's record, which listing runs uses) needs only the file's header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.atomic import atomic_path
from workbench.tensorfile import read_metadata

if TYPE_CHECKING:
    import torch

__all__ = ["CheckpointError", "Checkpoint", "save_checkpoint", "load_checkpoint", "read_checkpoint_record", "strip_optimizer"]

_MODEL = "model."
_OPTIM = "optim."
_EXTRA = "extra."


class CheckpointError(Exception):
    """A checkpoint could not be read or does not fit the model it is loaded into."""


@dataclass
class Checkpoint:
    model: dict[str, torch.Tensor]
    optimizer: dict | None
    meta: dict
    extra: dict[str, torch.Tensor] | None = None  # a second state dict (the live weights beside an EMA)


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    import torch

    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict] = {}
    for pid, st in state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{_OPTIM}{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[k] = v
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        pid, k = key[len(_OPTIM):].split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    for pid, sc in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(sc)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: str | Path, model: torch.nn.Module | dict, optimizer: torch.optim.Optimizer | None = None, meta: dict | None = None,
                    extra: dict[str, torch.Tensor] | None = None) -> Path:  # fmt: skip
    """Save model (and optimiser) state to ``path`` atomically; ``meta`` must be JSON-serialisable.
    ``extra`` is a second state dict stored beside the model (the live weights when ``model`` is an EMA)."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict() if isinstance(model, torch.nn.Module) else model
    # safetensors refuses shared storage: clone so tied weights are saved as separate tensors
    tensors = {f"{_MODEL}{k}": v.detach().cpu().contiguous().clone() for k, v in sd.items()}
    tensors.update({f"{_EXTRA}{k}": v.detach().cpu().contiguous().clone() for k, v in (extra or {}).items()})
    optim_meta = None
    if optimizer is not None:
        ot, optim_meta = _flatten_optimizer(optimizer.state_dict())
        tensors.update(ot)
    metadata = {"workbench": json.dumps({"meta": meta or {}, "optimizer": optim_meta})}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_checkpoint_record(path: str | Path) -> dict[str, Any]:
    """The record a checkpoint keeps beside its tensors, ``{"meta": …, "optimizer": …}`` (``meta``:
    method, sample_meta, data, split, step, …), from the file's header alone: no tensor is loaded
    and torch is not imported. :class:`CheckpointError` names the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file is missing")
    try:
        raw = read_metadata(path).get("workbench")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint is corrupt or truncated ({e})") from e
    if raw is None:
        raise CheckpointError(f"{path}: not a workbench checkpoint (no 'workbench' metadata)")
    try:
        info = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: checkpoint metadata is not valid JSON ({e})") from e
    if not isinstance(info, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is not a JSON object")
    return {"meta": info.get("meta") or {}, "optimizer": info.get("optimizer")}


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (no pickle involved)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    info = read_checkpoint_record(path)
    try:
        tensors = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: checkpoint is corrupt or truncated ({e})") from e
    model = {k[len(_MODEL):]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    optim = None
    if info["optimizer"] is not None:
        optim = _unflatten_optimizer({k: v for k, v in tensors.items() if k.startswith(_OPTIM)}, info["optimizer"])
    extra = {k[len(_EXTRA):]: v for k, v in tensors.items() if k.startswith(_EXTRA)} or None
    return Checkpoint(model=model, optimizer=optim, meta=info["meta"], extra=extra)


def strip_optimizer(path: str | Path) -> Path:
    """Rewrite a checkpoint without its optimiser state (a third of the size; for shipping finished
    runs — evaluation and analysis need only the model; resuming then starts a fresh optimiser)."""
    ck = load_checkpoint(path)
    return save_checkpoint(path, ck.model, None, {**ck.meta, "optimizer_stripped": True})
