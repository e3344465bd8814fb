"""Figure builders: each returns a plotly figure with the expected traces for a small input."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench.analysis.trajectories import latent_trajectories
from workbench.dtw import dtw_path
from workbench.methods.clap import RateDistortionPoint
from workbench.viz.actions import plot_action_chunks
from workbench.viz.curves import plot_probe_curves, plot_rate_distortion, plot_recall_at_k
from workbench.viz.latent import distinct_colours, plot_latent_trajectories, selected_sample_ids
from workbench.viz.matrices import plot_dtw_matrix, plot_matching_matrix
from workbench.viz.neighbours import plot_neighbour_grid
from workbench.viz.saliency import plot_saliency_overlays


def _trajectories():
    rng = np.random.default_rng(0)
    n_ep, T = 3, 6
    ep = np.repeat(np.arange(n_ep), T)
    t = np.tile(np.arange(T), n_ep)
    pts = rng.normal(size=(n_ep * T, 2))
    task = np.where(ep < 2, "push", "reach")
    return latent_trajectories(pts, ep, t, task=task, camera_setup=np.full(len(ep), "fixed"))


@pytest.mark.parametrize("color_by", ["episode", "task", "time", "camera_setup"])
def test_latent_trajectories_figure(color_by):
    trs = _trajectories()
    fig = plot_latent_trajectories(trs, color_by=color_by)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 3
    for tr, trace in zip(trs, fig.data):
        assert trace.mode == "lines+markers"
        custom = np.asarray(trace.customdata)
        # customdata carries [sample id, episode, time] for app selection
        np.testing.assert_array_equal(custom[:, 0], tr.sample_ids)
        np.testing.assert_array_equal(custom[:, 1], tr.episode)
        np.testing.assert_array_equal(custom[:, 2], tr.time)
        assert "episode" in trace.hovertemplate and "step" in trace.hovertemplate
    if color_by == "task":
        assert sum(bool(t.showlegend) for t in fig.data) == 2  # one legend entry per task
    if color_by == "time":
        np.testing.assert_array_equal(np.asarray(fig.data[0].marker.color), trs[0].time)
    with pytest.raises(ValueError):
        plot_latent_trajectories(trs, color_by="colour")


def test_selection_points_map_back_to_samples_in_every_form_plotly_sends():
    trs = _trajectories()
    a, b = int(trs[1].sample_ids[2]), int(trs[2].sample_ids[0])
    compact = [{"customdata": {"0": a, "1": 1, "2": 2}}, {"customdata": {"0": b, "1": 2, "2": 0}}]  # Plotly 6, numpy rows
    as_list = [{"customdata": [b, 2, 0]}, {"customdata": [a, 1, 2]}, {"customdata": [a, 1, 2]}]
    by_index = [{"curve_number": 1, "point_index": 2}, {"curve_number": 2, "point_number": 0}]
    for points in (compact, as_list, by_index):
        assert selected_sample_ids(points, trs) == sorted({a, b})
    assert selected_sample_ids([{"curve_number": 9, "point_index": 0}], trs) == []  # a trace of another figure


def test_colour_by_episode_gives_every_one_of_48_episodes_its_own_colour():
    assert len(set(distinct_colours(48))) == 48 and distinct_colours(3) == distinct_colours(10)[:3]
    rng = np.random.default_rng(0)
    ep = np.repeat(np.arange(48), 3)
    trs = latent_trajectories(rng.normal(size=(len(ep), 2)), ep, np.tile(np.arange(3), 48))
    fig = plot_latent_trajectories(trs, color_by="episode")
    assert len({t.line.color for t in fig.data}) == 48


def _decoded(uri: str) -> np.ndarray:
    import base64
    import io

    from PIL import Image

    head, data = uri.split(",", 1)
    assert head == "data:image/png;base64", head
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_neighbour_grid_figure():
    rng = np.random.default_rng(0)
    q = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    e = rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    d = rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8)
    fig = plot_neighbour_grid(q, e, d, embedding_captions=[f"cos {i}" for i in range(8)])
    assert len(fig.data) == 18 and all(isinstance(t, go.Image) for t in fig.data)
    np.testing.assert_array_equal(_decoded(fig.data[0].source), q)  # lossless PNG tiles, in order
    np.testing.assert_array_equal(_decoded(fig.data[10].source), d[0])
    np.testing.assert_array_equal(_decoded(fig.data[17].source), d[7])
    assert "cos 0" in [a.text for a in fig.layout.annotations]
    assert len(plot_neighbour_grid(q, e).data) == 9
    with pytest.raises(ValueError):
        plot_neighbour_grid(q, e[0])


def test_dtw_matrix_figure():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 2)), rng.normal(size=(7, 2))
    cost = np.linalg.norm(a[:, None] - b[None], axis=-1)
    _, path = dtw_path(a, b)
    fig = plot_dtw_matrix(cost, path)
    assert [type(t).__name__ for t in fig.data] == ["Heatmap", "Scatter"]
    np.testing.assert_array_equal(np.asarray(fig.data[1].x), path[:, 1])
    np.testing.assert_array_equal(np.asarray(fig.data[1].y), path[:, 0])
    assert len(plot_dtw_matrix(cost).data) == 1
    with pytest.raises(ValueError):
        plot_dtw_matrix(cost, path + 10)


def test_matching_matrix_figure():
    p = np.eye(4) * 0.8 + 0.05
    fig = plot_matching_matrix(p, row_labels=list("abcd"))
    assert len(fig.data) == 1 and fig.data[0].type == "heatmap"
    assert fig.data[0].zmin == 0 and fig.data[0].zmax == 1
    with pytest.raises(ValueError):
        plot_matching_matrix(p * 2)


@pytest.mark.parametrize("mode", ["per_dim", "3d"])
def test_action_chunks_figure(mode):
    rng = np.random.default_rng(0)
    true, pred = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    fig = plot_action_chunks(true, pred, mode=mode)
    if mode == "per_dim":
        assert len(fig.data) == 8  # true + predicted per dimension
        np.testing.assert_allclose(np.asarray(fig.data[2].y), true[:, 1])
    else:
        assert [t.type for t in fig.data] == ["scatter3d", "scatter3d"]
        np.testing.assert_allclose(np.asarray(fig.data[1].z), pred[:, 2])
    assert len(plot_action_chunks(true, mode=mode).data) == (4 if mode == "per_dim" else 1)
    with pytest.raises(ValueError):
        plot_action_chunks(true, pred[:, :2])


def test_saliency_overlays_figure():
    rng = np.random.default_rng(0)
    cols = {name: rng.integers(0, 255, (2, 12, 12, 3), dtype=np.uint8) for name in ("input", "CAIP", "MAP", "PCA")}
    fig = plot_saliency_overlays(cols, scores={"CAIP": [0.5, 0.25]})
    assert len(fig.data) == 8 and all(t.type == "image" for t in fig.data)
    titles = [a.text for a in fig.layout.annotations]
    assert "CAIP 0.50" in titles and "0.25" in titles
    with pytest.raises(ValueError):
        plot_saliency_overlays({"a": cols["input"], "b": cols["CAIP"][:1]})


def test_probe_curves_figure():
    fig = plot_probe_curves({"caip": ([1, 4, 16], [0.2, 0.4, 0.6], [0.01, 0.02, 0.03]), "bc": ([1, 4, 16], [0.1, 0.2, 0.3])},
                            zero_shot={"caip": 0.35})
    assert len(fig.data) == 3
    assert fig.layout.xaxis.type == "log"
    zs = fig.data[2]
    assert zs.line.dash == "dash" and list(zs.y) == [0.35, 0.35] and list(zs.x) == [1, 16]
    assert zs.line.color == fig.data[0].line.color


def test_rate_distortion_figure():
    pts = [RateDistortionPoint(nq=nq, k=k, mse=1.0 / (nq * k), psnr=10.0 * np.log10(nq * k), rate=nq * np.log2(k) / 100,
                               usage=1.0, steps=10) for nq in (2, 4) for k in (16, 8, 32)]  # fmt: skip
    fig = plot_rate_distortion(pts)
    assert [t.name for t in fig.data] == ["N_q = 2", "N_q = 4"]
    assert np.all(np.diff(np.asarray(fig.data[0].x)) > 0)  # sorted by rate
    assert len(plot_rate_distortion(pts, group_by="k", y="mse").data) == 3
    with pytest.raises(ValueError):
        plot_rate_distortion(pts, y="ssim")


def test_recall_at_k_figure():
    fig = plot_recall_at_k({"image→action": {1: 0.2, 5: 0.6}, "image→text": {1: 0.1, 5: 0.4}})
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert list(fig.data[0].x) == ["R@1", "R@5"] and list(fig.data[1].y) == [0.1, 0.4]
    with pytest.raises(ValueError):
        plot_recall_at_k({"x": {1: 1.5}})


def test_variant_bars_table_and_latent_panels_are_built_in_viz():
    from types import SimpleNamespace

    from workbench.viz.curves import plot_variant_bars, rate_distortion_table
    from workbench.viz.latent import plot_latent_panels

    rows = [{"panel": "a", "variant": "x", "v": 0.5, "base_mse": 0.9}, {"panel": "a", "variant": "y", "v": 0.4},
            {"panel": "b", "variant": "z", "v": 0.7}]  # fmt: skip
    fig = plot_variant_bars(rows, value="v", baselines=("base_mse", "absent_mse"))
    bar = fig.data[0]
    assert list(bar.x) == ["x", "y", "z"] and list(bar.y) == [0.5, 0.4, 0.7]
    assert bar.marker.color[0] == bar.marker.color[1] != bar.marker.color[2]
    assert [s.y0 for s in fig.layout.shapes] == [0.9]
    assert fig.data[0].error_y.array is None  # no error bars unless asked
    # error bars over seeds: the half-widths, an infinite one (a single seed) drawn as none
    for r, w in zip(rows, (0.05, float("inf"), 0.1)):
        r["half"] = w
    with_err = plot_variant_bars(rows, value="v", error="half").data[0]
    assert list(with_err.error_y.array) == [0.05, 0.0, 0.1] and with_err.error_y.visible
    pts = [SimpleNamespace(nq=2, k=8, mse=0.01, psnr=26.0, rate=0.5, usage=0.9)]
    table = rate_distortion_table(pts)
    assert list(table.data[0].cells.values[0]) == [2] and list(table.data[0].cells.values[3]) == ["26.00"]
    labels = np.array(["a", "b", "a", "b"])
    panels = plot_latent_panels({"one": np.zeros((4, 2)), "two": np.ones((4, 2))}, labels)
    assert len(panels.data) == 4 and [t.showlegend for t in panels.data] == [True, True, False, False]
    assert list(panels.data[0].x) == [0.0, 0.0] and panels.data[2].xaxis == "x2"


def test_interval_panels_keep_an_arm_colour_and_draw_asymmetric_bars():
    from workbench.stats import Interval, wilson_interval
    from workbench.viz.curves import plot_interval_panels

    a, b = Interval(0.5, 0.2, 0.6), Interval(0.1, 0.05, 0.4)
    panels = {"offline": {"arm A": (["s0", "s1"], [a, b]), "arm B": (["s0"], [b])},
              "closed loop": {"arm A": (["pooled"], [wilson_interval(3, 10)])}}
    fig = plot_interval_panels(panels, colors=["#111111", "#222222"], references={"closed loop": 0.25}, title="t")
    assert [t.name for t in fig.data] == ["arm A", "arm B", "arm A"] and [t.showlegend for t in fig.data] == [True, True, False]
    assert [t.marker.color for t in fig.data] == ["#111111", "#222222", "#111111"]
    np.testing.assert_allclose(fig.data[0].error_y.array, [0.1, 0.3])
    np.testing.assert_allclose(fig.data[0].error_y.arrayminus, [0.3, 0.05])
    assert fig.data[2].xaxis == "x2" and [s.y0 for s in fig.layout.shapes] == [0.25]
