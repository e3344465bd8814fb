"""CLASS App. B recipe: LARS against its formula, the EMA schedule, the preset, accumulation, EMA resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_robot_episode

from workbench.data import write_lerobot
from workbench.train import ConfigError, RunDir, create_run, load_checkpoint, make_config
from workbench.train.loop import train
from workbench.train.optim import EMA, LARS, ema_decay


def test_lars_matches_the_formula_over_two_steps():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(3, 4))
    b = torch.nn.Parameter(torch.randn(4))
    opt = LARS([w, b], lr=0.5, momentum=0.9, weight_decay=1e-2, eta=0.001)
    W, B = w.detach().double().clone(), b.detach().double().clone()
    vw, vb = torch.zeros_like(W), torch.zeros_like(B)
    for step in range(2):
        gw, gb = torch.randn(3, 4), torch.randn(4)
        w.grad, b.grad = gw.clone(), gb.clone()
        opt.step()
        # by hand: d = g + λw, q = η‖w‖/‖d‖, v = μv + q·d, w -= lr·v; the bias takes plain momentum SGD
        d = gw.double() + 1e-2 * W
        q = 0.001 * W.norm() / d.norm()
        vw = 0.9 * vw + q * d
        W = W - 0.5 * vw
        vb = 0.9 * vb + gb.double()
        B = B - 0.5 * vb
        torch.testing.assert_close(w.detach().double(), W, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(b.detach().double(), B, atol=1e-6, rtol=1e-6)
    # the trust ratio makes the step proportional to ‖w‖, not to the gradient's scale
    w2 = torch.nn.Parameter(W.float().clone())
    opt2 = LARS([w2], lr=1.0, momentum=0.0, weight_decay=0.0)
    w2.grad = 1000.0 * torch.ones_like(w2)
    before = w2.detach().clone()
    opt2.step()
    assert (w2.detach() - before).norm().item() == pytest.approx(0.001 * before.norm().item(), rel=1e-5)


def test_ema_decay_schedule_and_average():
    assert ema_decay(1) == 0.0
    assert ema_decay(2) == pytest.approx(1 - 2**-0.75)
    assert ema_decay(100) == pytest.approx(1 - 100**-0.75)
    assert ema_decay(10**9) == 0.9999
    m = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        m.weight.fill_(1.0)
    ema = EMA(m, power=0.75)
    with torch.no_grad():
        m.weight.fill_(3.0)
    ema.update(m, 1)  # decay 0: the average jumps to the live weights
    assert ema.state_dict()["weight"].item() == 3.0
    with torch.no_grad():
        m.weight.fill_(5.0)
    d = ema.update(m, 2)
    assert ema.state_dict()["weight"].item() == pytest.approx(d * 3.0 + (1 - d) * 5.0)


def test_class_appb_preset_and_refusals(tmp_path):
    cfg = make_config("class", "class-appb")
    o = cfg.optim
    assert (o.name, o.lr, o.momentum, o.weight_decay, o.warmup_steps, o.grad_clip, o.ema_power) == ("lars", 0.5, 0.9, 1e-6, 500, 0.5, 0.75)
    assert cfg.batch_size == 160
    assert make_config("class", "sample").optim.name == "adamw"  # the AdamW preset is kept
    with pytest.raises(ConfigError, match="optim.name"):
        make_config("class", "smoke", ["optim.name=sgd"])
    with pytest.raises(ConfigError, match="divisible by optim.accumulate"):
        make_config("class", "smoke", ["batch_size=16", "optim.accumulate=3"])


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("optim") / "ds"
    return write_lerobot([make_robot_episode(i, T=24, size=32, task=("push", "reach")[i % 2]) for i in range(6)], root)


def _cfg(path, **kw):
    sets = [f"data.path={path}", "steps=8", "data.image_size=64", "data.horizon=1", "log_every=1", "ckpt_every=4", "num_threads=1",
            "optim.name=lars", "optim.lr=0.5", "optim.ema_power=0.75", "optim.warmup_steps=2", "optim.grad_clip=0.5"]
    return make_config("bc", "smoke", sets + [f"{k}={v}" for k, v in kw.items()])


def test_lars_ema_run_resumes_exactly_and_saves_the_average(tmp_path, tiny_dataset):
    full = create_run(_cfg(tiny_dataset), tmp_path / "full")
    train(full.path)
    ck = load_checkpoint(full.latest_checkpoint())
    assert ck.meta["ema"] is True and ck.extra is not None and set(ck.extra) == set(ck.model)
    assert any(not torch.equal(ck.model[k], ck.extra[k]) for k in ck.model if ck.model[k].is_floating_point())
    # the same run, thrown back to its step-4 checkpoint (as after a kill), then resumed: the same
    # metrics and the same averaged weights (the EMA travels in the checkpoint)
    part = create_run(_cfg(tiny_dataset), tmp_path / "part")
    train(part.path)
    rd = RunDir(part.path)
    rd.checkpoint_path(8).unlink()
    rd.set_latest(rd.checkpoint_path(4))
    train(part.path, resume=True)
    a = [(m["step"], m["loss"]) for m in RunDir(full.path).read_metrics()]
    b = [(m["step"], m["loss"]) for m in RunDir(part.path).read_metrics()]
    assert a == b
    ck2 = load_checkpoint(RunDir(part.path).latest_checkpoint())
    for k in ck.model:
        torch.testing.assert_close(ck.model[k], ck2.model[k])


def test_gradient_accumulation_takes_the_mean_gradient(tmp_path, tiny_dataset):
    # BC's loss is a mean over samples (horizon 1: every step valid) and GroupNorm keeps samples
    # independent, so 2 micro-batches of 8 give the gradient of one batch of 16
    a = create_run(_cfg(tiny_dataset, batch_size=16, steps=3, **{"optim.ema_power": 0}), tmp_path / "a")
    b = create_run(_cfg(tiny_dataset, batch_size=16, steps=3, **{"optim.ema_power": 0, "optim.accumulate": 2}), tmp_path / "b")
    train(a.path)
    train(b.path)
    la = [m["loss"] for m in RunDir(a.path).read_metrics()]
    ka, kb = load_checkpoint(RunDir(a.path).latest_checkpoint()), load_checkpoint(RunDir(b.path).latest_checkpoint())
    assert len(la) == 3
    for k in ka.model:
        if ka.model[k].is_floating_point():
            np.testing.assert_allclose(ka.model[k].numpy(), kb.model[k].numpy(), atol=2e-4)
