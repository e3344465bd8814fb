# %% [markdown]
# # CLAMP Table III ablations and Fig. 7 examples, measured by retrieval
#
# CLAMP §III-B renders the merged point cloud as depth + XYZ virtual views (three fixed, two
# wrist) and encodes them with a ViT whose attention carries Cayley-STRING on each patch's mean
# XYZ (§III-D). Table III removes one piece at a time — the wrist views, STRING — and App. A/B
# train on depth + XYZ rather than RGB. The paper measures the ablations by closed-loop success of a
# fine-tuned diffusion policy; here, at laptop scale, we measure what the pre-training itself
# learns: Recall@5 between image and previous-action (and text) embeddings on held-out episodes,
# on the examples App. B selects (time step a multiple of 10, the first object in a not-yet-seen
# cell of a 3×3 workspace grid per task and step; :func:`workbench.eval.appb.select_app_b`), with
# Wilson intervals. Claims: the full model ≥ each ablation; depth + XYZ ≥ RGB.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
seeds = None  # None: (seed,); several seeds give a spread across training runs
smoke = False
steps = 300
view_size = 32  # side of each virtual view (five views tile to 32 × 160)
figures_out = None

# %%
import numpy as np
import plotly.graph_objects as go

from workbench.data import load_dataset
from workbench.data.views import DEFAULT_VIEWS
from workbench.eval.appb import first_object_positions, recall_with_intervals, select_app_b
from workbench.eval.features import embed_split, load_split
from workbench.figures import notebook_config, notebook_dataset, train_cached
from workbench.train.run import load_run
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
ds = load_dataset(data)
seed_list = tuple(seeds) if seeds is not None else (seed,)
VARIANTS = {
    "CLAMP (D+XYZ, STRING, wrist views)": {"image_input": "dxyz", "view_size": view_size},
    "without virtual wrist views": {"image_input": "dxyz", "view_size": view_size, "wrist_views": False},
    "without STRING (learned positions)": {"image_input": "dxyz", "view_size": view_size, "positions": "learned"},
    "RGB instead of D+XYZ": {"image_input": "rgb"},
}
PAIRS = [("image", "action"), ("action", "image"), ("image", "text"), ("text", "image"), ("action", "text"), ("text", "action")]

# %%
results: dict[str, dict[str, list]] = {}
n_examples = {}
for s in seed_list:
    for label, mc in VARIANTS.items():
        slug = "clamp3d-" + "-".join(f"{k}{v}" for k, v in mc.items() if k != "view_size")
        run = train_cached(notebook_config("clamp", smoke=smoke, seed=s, dataset=data, steps=steps, method_config=mc), name=slug)
        trained = load_run(run.run_dir)
        val = load_split(trained, "val", dataset=ds, stride=1)
        feats = embed_split(trained.method, val)
        eps = {int(e): ds.episode(int(e)) for e in np.unique(val.episode)}
        pos = first_object_positions(eps, val.episode, val.time)
        idx = select_app_b(val.task, val.time, pos, lo=DEFAULT_VIEWS.workspace_lo, hi=DEFAULT_VIEWS.workspace_hi)
        n_examples[label] = len(idx)
        emb = {"image": feats.image, "action": feats.action, "text": feats.text}
        for a, b in PAIRS:
            r = recall_with_intervals(emb[a][idx], emb[b][idx], k=5)
            results.setdefault(label, {}).setdefault(f"{a}→{b}", []).append(r)
for label, per_pair in results.items():
    print(label, f"({n_examples[label]} App. B examples)")
    for pair, rs in per_pair.items():
        print(f"  {pair:14s} R@5 " + ", ".join(f"{r.estimate:.3f} [{r.low:.3f}, {r.high:.3f}]" for r in rs) + f"  chance {5 / rs[0].n:.3f}")

# %%
fig = go.Figure()
for label, per_pair in results.items():
    pairs = list(per_pair)
    first = [per_pair[p][0] for p in pairs]  # the first seed's run, with its Wilson interval
    fig.add_trace(go.Bar(x=pairs, y=[r.estimate for r in first], name=label,
                         error_y=dict(type="data", symmetric=False, array=[r.high - r.estimate for r in first],
                                      arrayminus=[r.estimate - r.low for r in first])))  # fmt: skip
chance = 5 / next(iter(next(iter(results.values())).values()))[0].n
fig.add_hline(y=chance, line_dash="dot", annotation_text=f"chance {chance:.3f}")
fig.update_layout(title=f"CLAMP Table III ablations: Recall@5 on {max(n_examples.values())} App. B examples (95 % Wilson)",
                  barmode="group", yaxis=dict(range=[0, 1.05], title="Recall@5"), template="plotly_white")  # fmt: skip
meta = {label: {pair: [{"recall": r.estimate, "low": r.low, "high": r.high, "n": r.n} for r in rs] for pair, rs in per_pair.items()}
        for label, per_pair in results.items()}  # fmt: skip
meta["chance_recall_at_5"] = chance
meta["seeds"] = list(seed_list)
save_figure(fig, "clamp_table3_ablations", figures_out, meta=meta)
fig
