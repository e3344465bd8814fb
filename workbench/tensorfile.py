"""The string metadata of a safetensors file, read without torch and without loading a tensor.

Every file the workbench writes with safetensors (a training checkpoint, a :meth:`Method.save`
file, a trained head) keeps its non-tensor record (method, config, sample meta, split, …) as JSON
strings in the header's ``__metadata__``. :func:`read_metadata` is the one reader of that header:
the run list, the app's sidebar and every loader go through it, so listing runs stays cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["read_metadata"]

#: a header longer than this is not one the workbench wrote (safetensors' own limit is 100 MB)
_MAX_HEADER = 100 * 2**20


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of the safetensors file ``path`` ({} when it has none).

    The layout is an 8-byte little-endian header length, the JSON header, then the tensor bytes;
    the header is checked as safetensors checks it on opening (its length, its JSON, string metadata,
    and tensor bytes laid end to end from 0 to the end of the file), so a truncated file is refused
    here as it is there; a tensor's size against its dtype and shape is left to the loaders.
    ``FileNotFoundError`` / ``OSError`` pass through; anything else raises ``ValueError`` naming
    the file.
    """
    path = Path(path)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 2 <= n <= _MAX_HEADER:
            raise ValueError(f"{path}: not a safetensors file (header length {n})")
        raw = f.read(n)
    if len(raw) != n:
        raise ValueError(f"{path}: not a safetensors file (the header is cut short)")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a safetensors file (its header is not JSON: {e})") from e
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (its header is not a JSON object)")
    end = _data_end(path, header)
    size = os.path.getsize(path)
    if size != 8 + n + end:
        raise ValueError(f"{path}: truncated or padded safetensors file ({size} bytes, the header names {8 + n + end})")
    meta = header.get("__metadata__") or {}
    # safetensors reads the metadata as a map of strings and refuses any other value
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{path}: not a safetensors file (its __metadata__ is not a JSON object of strings)")
    return meta


def _data_end(path: Path, header: dict) -> int:
    """Where the tensor bytes the header names end, checked as safetensors checks the offsets: each
    entry's ``[begin, end]`` integers, the entries in turn from 0 without gap or overlap."""
    try:
        spans = sorted((t["data_offsets"][0], t["data_offsets"][1], k) for k, t in header.items() if k != "__metadata__")
    except (KeyError, IndexError, TypeError) as e:
        raise ValueError(f"{path}: not a safetensors file (a tensor entry has no data offsets: {e})") from e
    end = 0
    for begin, stop, name in spans:
        if not (type(begin) is int and type(stop) is int and begin == end and stop >= begin):
            raise ValueError(f"{path}: not a safetensors file (tensor {name!r} has invalid data offsets [{begin}, {stop}])")
        end = stop
    return end
