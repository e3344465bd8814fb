"""The one torch-free reader of a safetensors header (workbench.tensorfile), and the checkpoint
record read through it: the same answer as safetensors' own reader and as load_checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from workbench.tensorfile import read_metadata
from workbench.train.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_record, save_checkpoint
from workbench.train.rundir import JobError, read_checkpoint_meta

ROOT = Path(__file__).resolve().parents[1]


def _file(tmp_path: Path, metadata: dict[str, str] | None) -> Path:
    p = tmp_path / "t.safetensors"
    save_file({"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.int64)}, str(p), metadata=metadata)
    return p


@pytest.mark.parametrize("metadata", [None, {"format": "x", "config": json.dumps({"k": [1, 2]})}])
def test_read_metadata_agrees_with_safetensors(tmp_path, metadata):
    p = _file(tmp_path, metadata)
    with safe_open(str(p), framework="pt") as f:
        theirs = f.metadata() or {}
    assert read_metadata(p) == theirs == (metadata or {})


def test_read_metadata_refuses_what_safetensors_refuses(tmp_path):
    p = _file(tmp_path, {"format": "x"})
    data = p.read_bytes()
    cases = {"cut.safetensors": data[:-3], "short.safetensors": data[:5], "text.safetensors": b"hello world, no header",
             "padded.safetensors": data + b"\0\0"}  # fmt: skip
    for name, blob in cases.items():
        q = tmp_path / name
        q.write_bytes(blob)
        with pytest.raises(Exception):  # safetensors' own error types
            with safe_open(str(q), framework="pt") as f:
                f.metadata()
        with pytest.raises(ValueError, match=name):
            read_metadata(q)
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "absent.safetensors")


def _handmade(path: Path, header: dict, body: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + body)
    return path


def test_read_metadata_refuses_the_headers_safetensors_refuses(tmp_path):
    """Headers whose size adds up but whose content safetensors refuses: a metadata value that is
    not a string (a checkpoint record written as an object), tensor bytes with a gap, offsets
    reversed. read_checkpoint_meta says JobError naming the file (a TypeError escaped it before)."""
    f32 = {"dtype": "F32", "shape": [2]}
    cases = {"object.safetensors": ({"__metadata__": {"workbench": {"meta": {}}}, "a": {**f32, "data_offsets": [0, 8]}}, 8),
             "gap.safetensors": ({"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [16, 24]}}, 24),
             "reversed.safetensors": ({"a": {**f32, "data_offsets": [8, 0]}}, 0)}  # fmt: skip
    for name, (header, size) in cases.items():
        q = _handmade(tmp_path / name, header, b"\0" * size)
        with pytest.raises(Exception):  # safetensors' own error types
            with safe_open(str(q), framework="pt") as f:
                f.metadata()
        with pytest.raises(ValueError, match=name):
            read_metadata(q)
        with pytest.raises(JobError, match=f"{name}.*not a readable workbench checkpoint"):
            read_checkpoint_meta(q)
    # empty tensors share an offset with the next one: both readers accept that
    empty = {"dtype": "F32", "shape": [0]}
    ok = _handmade(tmp_path / "empty.safetensors", {"__metadata__": {"k": "v"}, "e": {**empty, "data_offsets": [0, 0]},
                                                    "f": {**empty, "data_offsets": [0, 0]}, "a": {**f32, "data_offsets": [0, 8]}},
                   b"\0" * 8)  # fmt: skip
    with safe_open(str(ok), framework="pt") as f:
        assert f.metadata() == read_metadata(ok) == {"k": "v"}


def test_one_checkpoint_record_for_listing_and_loading(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    meta = {"method": "caip", "sample_meta": {"camera": "wrist"}, "data": {"path": "d"}, "step": 7}
    p = save_checkpoint(tmp_path / "step_7.safetensors", model, opt, meta)
    rec = read_checkpoint_record(p)
    assert rec["meta"] == meta == read_checkpoint_meta(p) == load_checkpoint(p).meta
    assert rec["optimizer"]["param_groups"][0]["lr"] == 1e-3

    bad = tmp_path / "step_8.safetensors"
    bad.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="step_8.safetensors.*corrupt or truncated"):
        read_checkpoint_record(bad)
    with pytest.raises(JobError, match="step_8.safetensors.*not a readable workbench checkpoint"):
        read_checkpoint_meta(bad)
    plain = _file(tmp_path, {"format": "x"})
    with pytest.raises(CheckpointError, match="no 'workbench' metadata"):
        load_checkpoint(plain)


def test_listing_what_a_run_trained_on_does_not_import_torch(tmp_path):
    from workbench.train.rundir import RunDir

    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.config_path.write_text("method: caip\ndata:\n  path: some/data\n  camera: null\n")
    save_checkpoint(rd.ckpt_dir / "step_3.safetensors", {"w": torch.zeros(2)}, None,
                    {"sample_meta": {"camera": "front"}, "data": {}})  # fmt: skip
    code = ("import sys; from workbench.train.rundir import trained_on; t = trained_on(sys.argv[1]); "
            "print(t.camera, t.data_path, t.reads(['front']), t.reads(['wrist']), 'torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code, str(rd.path)], capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.stdout.split() == ["front", "some/data", "True", "False", "False"]


def test_a_run_whose_settings_are_not_a_mapping_is_refused_by_name(tmp_path):
    from workbench.train.rundir import RunDir, trained_on

    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.config_path.write_text("method: caip\ndata: [some, list]\n")
    save_checkpoint(rd.ckpt_dir / "step_3.safetensors", {"w": torch.zeros(2)}, None, {"sample_meta": {}, "data": {}})
    with pytest.raises(JobError, match=r"run/config.yaml: 'data' is a list, not a mapping"):
        trained_on(rd.path)
    save_checkpoint(rd.ckpt_dir / "step_4.safetensors", {"w": torch.zeros(2)}, None, {"sample_meta": "front", "data": {"path": "d"}})
    with pytest.raises(JobError, match=r"step_4.safetensors: 'sample_meta' is a str, not a mapping"):
        trained_on(rd.path)
