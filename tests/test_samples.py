"""Each reader on its real shipped sample file (data_samples/, made by `workbench data make-samples`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from workbench.data import load_dataset
from workbench.data.chunks import dataset_chunks
from workbench.data.normalize import load_stats
from workbench.data.shipped import stats_file

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_samples_are_shipped_and_within_budget():
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 40 * 2**20
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    assert set(manifest["datasets"]) == {"metaworld", "robomimic", "hands"}


def test_metaworld_sample():
    ds = load_dataset(SAMPLES / "metaworld")
    info = ds.info()
    assert info.layout == "lerobot_v3" and info.episodes >= 48 and info.action_dim == 4
    assert set(info.tasks) >= {"reach", "push", "pick-place", "drawer-open", "button-press", "door-open"}
    assert set(info.camera_setups) == {"fixed", "random", "dynamic"}
    assert {"rgb", "depth", "segmentation", "ee_pose"} <= set(info.modalities)
    assert sum(i.success for i in ds.infos) >= 0.9 * len(ds)
    ep = ds.episode(ds.infos[2].index)  # a dynamic-camera episode
    scene = ep.cameras["scene"]
    assert scene.setup.value == "dynamic" and not np.allclose(scene.extrinsics[0], scene.extrinsics[-1])
    assert scene.rgb.load().shape == (len(ep), 96, 96, 3)
    assert set(np.unique(scene.segmentation.load())) == {0, 1, 2}
    assert ep.instruction and ep.ee_pos.shape == (len(ep), 3)


@pytest.mark.parametrize("name,kinds", [("metaworld", ("raw", "ee")), ("robomimic", ("raw", "ee")), ("hands", ("hand",))])
def test_stats_are_stored_with_each_sample(name, kinds):
    ds = load_dataset(SAMPLES / name)
    stats = load_stats(stats_file(ds))
    meta = json.loads(stats_file(ds).read_text())["meta"]
    train = meta["splits"]["train"]
    assert set(train).isdisjoint(meta["splits"]["val"])
    for kind in kinds:
        s = stats[f"{kind}/h16"]
        ch = dataset_chunks([ds.episode(i) for i in train], kind, 16)
        np.testing.assert_allclose(s.mean, ch.values[ch.mask].astype(np.float64).mean(0), rtol=1e-6, atol=1e-7)


def test_hands_sample():
    ds = load_dataset(SAMPLES / "hands")
    ep = ds[0]
    assert ep.hand_keypoints.shape == (len(ep), 42, 4, 4) and ep.skeleton.num_joints == 42
    ch = dataset_chunks([ep], "hand", 16)
    assert ch.values.shape[-1] == 378  # CAIP §2.4.2: 42 keypoints × 9
    assert ep.cameras["ego"].rgb.load().shape[0] == len(ep)


def test_robomimic_sample():
    ds = load_dataset(SAMPLES / "robomimic")
    assert ds.layout == "robomimic" and len(ds) == 2 and ds.splits
    mw = load_dataset(SAMPLES / "metaworld")
    ep = ds[0]
    src = mw.episode(ep.index)
    np.testing.assert_array_equal(ep.actions, src.actions)  # converted through the LeRobot reader
    np.testing.assert_array_equal(ep.cameras["scene"].depth.load(), src.cameras["scene"].depth.load())
