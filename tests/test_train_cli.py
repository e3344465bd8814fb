"""`workbench train <method> --preset smoke` on the shipped samples works for every method."""

from __future__ import annotations

import pytest

from workbench.cli import main
from workbench.methods import method_names
from workbench.train import RunDir, load_checkpoint
from workbench.train.restore import load_run


@pytest.mark.parametrize("method", method_names())
def test_smoke_preset_trains_every_method_on_the_samples(tmp_path, method, capsys):
    run = tmp_path / method
    rc = main(["train", method, "--preset", "smoke", "--run-dir", str(run), "--set", "steps=4", "--set", "ckpt_every=2"])
    assert rc == 0, capsys.readouterr().err
    rd = RunDir(run)
    st = rd.read_status()
    assert st.state == "finished" and st.step == 4
    losses = [m["loss"] for m in rd.read_metrics()]
    assert len(losses) == 2 and all(l == l for l in losses)  # logged, finite
    ck = load_checkpoint(rd.latest_checkpoint())
    assert ck.meta["method"] == method and ck.meta["data"]["path"].endswith("metaworld")
    restored = load_run(run)
    import torch

    img = torch.zeros(2, 3, restored.sample_meta.image_size, restored.sample_meta.image_size, dtype=torch.uint8)
    emb = restored.method.encode_images(img, ["open the door"] * 2)
    assert emb.shape[0] == 2 and torch.isfinite(emb).all()
