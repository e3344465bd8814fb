"""`workbench train <method> --preset smoke` on the shipped samples works for every method."""

from __future__ import annotations

import pytest

from workbench.cli import main
from workbench.methods import method_names
from workbench.train import RunDir, load_checkpoint
from workbench.train.run import load_run


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


@pytest.mark.parametrize("method", [m for m in method_names() if m != "random_encoder"])
def test_loss_falls_over_50_steps_on_the_samples(tmp_path, method):
    """Every trainable method learns on the metaworld sample within 50 CPU steps (the random
    encoder is the untrained baseline: its loss is 0 by construction and it has no optimiser step)."""
    from workbench.train import create_run, make_config
    from workbench.train.loop import train

    cfg = make_config(method, "smoke", ["steps=50", "log_every=1", "ckpt_every=50", "data.stride=4", "optim.warmup_steps=5", "optim.lr=3e-3"])
    rd = create_run(cfg, tmp_path / method)
    train(rd.path)
    losses = [m["loss"] for m in rd.read_metrics()]
    assert len(losses) == 50
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.95 * first, (method, first, last)
