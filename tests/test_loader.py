"""FrameChunkDataset: shapes, the image–chunk pairing, normalisation, masks, history padding,
episode subsets, resizing, depth, and reading through a real on-disk dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_hand_episode, make_robot_episode
from torch.utils.data import DataLoader

from workbench.data import load_dataset, write_lerobot
from workbench.data.chunks import action_chunks, ee_chunks, hand_chunks
from workbench.data.normalize import compute_norm_stats
from workbench.data.training_samples import FrameChunkDataset, SampleMeta, collate


@pytest.fixture
def robot() -> list:
    return [make_robot_episode(i, T=10 + i, task=("push", "reach")[i % 2]) for i in range(3)]


def test_raw_samples_pair_image_t_with_actions_from_t(robot) -> None:
    ds = FrameChunkDataset(robot, chunk_kind="raw", horizon=4)
    assert len(ds) == sum(len(ep) for ep in robot)  # every step has a valid raw chunk
    item = ds[13]  # episode 1 (T=11), step 3
    ep = robot[1]
    assert int(item["episode"]) == 1 and int(item["time"]) == 3 and int(item["index"]) == 13
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 32, 32)
    assert np.array_equal(item["image"].permute(1, 2, 0).numpy(), ep.cameras["scene"].rgb[3])
    assert torch.equal(item["chunk"], torch.from_numpy(ep.actions[3:7]))
    assert item["mask"].dtype == torch.bool and bool(item["mask"].all())
    assert item["text"] == ep.instruction and int(item["task_id"]) == ds.tasks.index(ep.task)
    assert int(item["progress"]) == round(100 * 3 / 11)
    # near the end the mask is False past the episode, the values repeat the last action
    last = ds[10 + 11 - 2]  # episode 1, step 9 of 11
    assert last["mask"].tolist() == [True, True, False, False]
    assert torch.equal(last["chunk"][3], torch.from_numpy(ep.actions[10]))


def test_ee_chunks_start_one_step_after_the_image(robot) -> None:
    ds = FrameChunkDataset(robot, chunk_kind="ee", horizon=4)
    # the last frame of each episode has no future pose and is dropped
    assert len(ds) == sum(len(ep) - 1 for ep in robot)
    ep = robot[0]
    c, m = ee_chunks(ep.ee_pos, ep.ee_quat, ep.gripper, 4)
    item = ds[2]
    assert int(item["time"]) == 2
    assert torch.allclose(item["chunk"], torch.from_numpy(c[3]))  # poses 3..6 for the image at 2
    assert np.array_equal(ds.chunks.values[2], c[3]) and ds.chunks.time[2] == 2


def test_hand_chunks_and_first_camera() -> None:
    eps = [make_hand_episode(i, T=8) for i in range(2)]
    ds = FrameChunkDataset(eps, camera=None, chunk_kind="hand", horizon=3)
    assert ds.camera == "ego"
    assert len(ds) == 2 * 7  # the last step of each episode has no future pose
    c, m = hand_chunks(eps[1].hand_keypoints, 3)
    item = ds[7 + 5]
    assert item["chunk"].shape == (3, 378)
    assert torch.allclose(item["chunk"], torch.from_numpy(c[5])) and item["mask"].tolist() == m[5].tolist()
    with pytest.raises(ValueError, match="no camera 'scene'"):
        FrameChunkDataset(eps, chunk_kind="hand")


def test_normalisation_and_stats(robot) -> None:
    raw = FrameChunkDataset(robot, chunk_kind="raw", horizon=5)
    stats = compute_norm_stats(raw.chunks.values, raw.chunks.mask)
    ds = FrameChunkDataset(robot, chunk_kind="raw", horizon=5, norm_stats=stats)
    vals = torch.stack([ds[i]["chunk"] for i in range(len(ds))])
    mask = torch.stack([ds[i]["mask"] for i in range(len(ds))])
    valid = vals[mask]  # (M, D)
    assert torch.allclose(valid.mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(valid.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    # .chunks stays in action units for DTW
    assert np.array_equal(ds.chunks.values, raw.chunks.values)


def test_history_is_zero_padded_at_the_start(robot) -> None:
    ds = FrameChunkDataset(robot, chunk_kind="raw", horizon=2, history=3)
    ep = robot[0]
    h0 = ds[0]
    assert h0["history"].shape == (3, 4) and not bool(h0["history_mask"].any())
    assert torch.equal(h0["history"], torch.zeros(3, 4))
    h2 = ds[2]
    assert h2["history_mask"].tolist() == [True, True, False]
    assert torch.equal(h2["history"][0], torch.from_numpy(ep.actions[1]))  # most recent first
    assert torch.equal(h2["history"][1], torch.from_numpy(ep.actions[0]))
    assert torch.equal(h2["history"][2], torch.zeros(4))
    h5 = ds[5]
    assert torch.equal(h5["history"], torch.from_numpy(ep.actions[2:5][::-1].copy()))
    # history statistics normalise the raw actions
    stats = compute_norm_stats(ep.actions)
    hs = FrameChunkDataset(robot, chunk_kind="raw", horizon=2, history=3, history_stats=stats)[5]["history"]
    assert torch.allclose(hs, torch.from_numpy(stats.normalize(ep.actions[2:5][::-1].copy())))


def test_subset_stride_resize_depth_future(robot) -> None:
    ds = FrameChunkDataset(robot, chunk_kind="raw", horizon=4, stride=3, episodes=[2, 0], image_size=16,
                           with_depth=True, future_offset=2)
    assert set(ds.chunks.episode.tolist()) == {0, 2}
    assert ds.chunks.time[ds.chunks.episode == 0].tolist() == [0, 3, 6, 9]
    item = ds[1]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.uint8
    # bilinear 2x downsampling with align_corners=False averages 2x2 blocks
    src = robot[0].cameras["scene"].rgb[3].astype(np.float64)
    blocks = src.reshape(16, 2, 16, 2, 3).mean((1, 3))
    assert np.abs(item["image"].permute(1, 2, 0).numpy() - blocks).max() <= 0.5 + 1e-6
    assert item["depth"].shape == (1, 16, 16) and item["depth"].dtype == torch.float32
    d = robot[0].cameras["scene"].depth[3]
    assert float(item["depth"].max()) <= d.max() / 1000.0 + 1e-6
    fut = FrameChunkDataset(robot, chunk_kind="raw", horizon=4, episodes=[0], future_offset=2)
    assert torch.equal(fut[4]["future_image"], fut[6]["image"])
    assert torch.equal(fut[9]["future_image"], fut[9]["image"])  # clamped to the last frame
    with pytest.raises(ValueError, match=r"episodes \[7\]"):
        FrameChunkDataset(robot, episodes=[7])


def test_collate_and_dataloader(robot) -> None:
    ds = FrameChunkDataset(robot, chunk_kind="raw", horizon=4, history=2)
    batch = next(iter(DataLoader(ds, batch_size=5, shuffle=False, collate_fn=collate)))
    assert batch["image"].shape == (5, 3, 32, 32) and batch["chunk"].shape == (5, 4, 4)
    assert batch["history"].shape == (5, 2, 4) and batch["history_mask"].shape == (5, 2)
    assert isinstance(batch["text"], list) and len(batch["text"]) == 5
    assert batch["index"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_meta_round_trips(robot) -> None:
    ds = FrameChunkDataset(robot, chunk_kind="ee", horizon=4, history=2)
    meta = ds.meta()
    assert (meta.chunk_dim, meta.horizon, meta.action_dim, meta.history, meta.image_size) == (10, 4, 4, 2, 32)
    assert meta.vocab[:3] == ("<pad>", "<unk>", "<cls>") and "puck" in meta.vocab
    assert meta.tasks == ("push", "reach") and meta.camera == "scene"
    assert SampleMeta.from_dict(meta.to_dict()) == meta


def test_bad_arguments(robot) -> None:
    for kw, match in (({"horizon": 0}, "horizon"), ({"stride": 0}, "stride"), ({"history": -1}, "history"),
                      ({"image_size": 0}, "image_size"), ({"chunk_kind": "joints"}, "joints")):
        with pytest.raises(ValueError, match=match):
            FrameChunkDataset(robot, **kw)
    with pytest.raises(IndexError):
        FrameChunkDataset(robot, horizon=2)[10_000]


def test_reads_a_lerobot_dataset(robot, tmp_path) -> None:
    path = write_lerobot(robot, tmp_path / "lr", progress=False)
    ds_disk = load_dataset(path)
    ds = FrameChunkDataset(ds_disk, chunk_kind="raw", horizon=4, episodes=[1])
    ep = robot[1]
    assert len(ds) == len(ep)
    c, _ = action_chunks(ep.actions, 4)
    assert np.allclose(ds.chunks.values, c, atol=1e-6)
    assert ds[0]["image"].shape == (3, 32, 32)  # decoded from video once, kept in memory
