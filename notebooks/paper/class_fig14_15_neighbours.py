# %% [markdown]
# # CLASS Fig. 14/15 — top-8 nearest neighbours
#
# CLASS App. J.2: for a query frame, its 8 nearest neighbours in the learnt embedding (cosine)
# next to its 8 nearest neighbours by the DTW distance of the action chunks that follow. Paper's
# claim: CLASS's neighbours come from other demonstrations and other viewpoints yet show the same
# phase of the same task — they agree with the action neighbours. Numbers: the overlap@8 between
# the two lists and the mean DTW of embedding neighbours relative to random frames (lower = the
# embedding finds action-similar frames), for CLASS and for behaviour cloning; frames of the
# query's own episode are excluded (they are trivially similar). The paper's point — CLASS's
# neighbours span camera viewpoints while BC's stay in one — is measured by the viewpoint span: the
# share of the top-k neighbours from another camera setup and the mean angle between the query's and
# the neighbours' camera viewing directions, each with a 95 % bootstrap interval over queries.
#
# Every number is measured for `num_seeds` training seeds of both encoders (the same query frames for
# CLASS and BC at a seed) and reported as the mean over seeds with a 95 % Student-t interval
# (`workbench.stats.seed_sweep`), beside the CLASS − BC difference paired by seed; the grids drawn are
# the first seed's.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # first training seed; seeds seed … seed + num_seeds − 1
smoke = False
num_seeds = 3
steps = 300
stride = 2
num_queries = 3  # grids drawn; the numbers use `num_scored` queries
num_scored = 64
figures_out = None

# %%
import numpy as np

from workbench.analysis import compare_neighbours, compute_embeddings, load_frames
from workbench.figures import notebook_dataset, train_recipe
from workbench.analysis.neighbours import camera_view_directions, viewpoint_span
from workbench.data import load_dataset
from workbench.stats import seed_sweep
from workbench.viz.neighbours import plot_neighbour_grid
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
seeds = [seed] if smoke else list(range(seed, seed + num_seeds))
k = 8 if not smoke else 4
source = load_dataset(data)


def measure(label: str, s: int) -> tuple[dict, tuple]:
    """One seed's numbers for one encoder (the notebooks' shared recipe, one cached run per method and seed)."""
    run = train_recipe(label.lower(), smoke=smoke, seed=s, dataset=data, steps=steps)
    emb = compute_embeddings(run.load(), data, stride=4 if smoke else stride)
    rng = np.random.default_rng(s)
    queries = rng.choice(len(emb), size=min(num_scored if not smoke else 8, len(emb)), replace=False)
    c = compare_neighbours(emb, queries, k=k, exclude_same_episode=True, seed=s)
    same_task = float(np.mean(emb.task[c.embedding_indices] == emb.task[c.queries][:, None]))
    view = camera_view_directions(source, emb.episode, emb.time, emb.camera)
    span = viewpoint_span(c.embedding_indices, c.queries, emb.camera_setup, emb.episode, view).summary(seed=s)
    row = {"overlap_at_k": float(c.overlap.mean), "relative_dtw": float(c.relative_dtw.ratio), "same_task_share": same_task,
           **{f"span_{name}": iv.estimate for name, iv in span.items()}}
    print(f"{label} seed {s}: " + ", ".join(f"{n} {v:.3f}" for n, v in row.items())
          + "; over queries: " + ", ".join(f"{n} {iv}" for n, iv in span.items()))
    return row, (emb, c)


# %%
per_seed: dict = {"CLASS": [], "BC": []}
comparisons = {}
for s in seeds:
    for label in per_seed:
        row, comp = measure(label, s)
        per_seed[label].append(row)
        comparisons.setdefault(label, comp)  # the first seed's, for the grids

# %% every number with its interval over seeds, and CLASS − BC paired by seed
measures = list(per_seed["CLASS"][0])
stats = {"k": k, "queries": num_scored if not smoke else 8, "seeds": seeds, "per_seed": per_seed}
for name in measures:
    for label, rows in per_seed.items():
        stats.setdefault(label, {})[name] = seed_sweep([r[name] for r in rows]).to_dict()
    diff = seed_sweep([a[name] - b[name] for a, b in zip(per_seed["CLASS"], per_seed["BC"])])
    stats.setdefault("CLASS_minus_BC", {})[name] = diff.to_dict()
    print(f"{name:22s} CLASS {seed_sweep([r[name] for r in per_seed['CLASS']]).format(3)}  "
          f"BC {seed_sweep([r[name] for r in per_seed['BC']]).format(3)}  CLASS − BC {diff.format(3)}")

# %%
emb, c = comparisons["CLASS"]
for q in range(min(num_queries, len(c.queries))):
    qrow = int(c.queries[q])
    cap = lambda rows, vals, name: [f"{emb.task[r]} ep{emb.episode[r]} t{emb.time[r]} · {name} {v:.2f}" for r, v in zip(rows, vals)]
    fig = plot_neighbour_grid(
        load_frames(emb, [qrow])[0], load_frames(emb, c.embedding_indices[q]), load_frames(emb, c.dtw_indices[q]),
        embedding_captions=cap(c.embedding_indices[q], c.embedding_similarity[q], "cos"),
        dtw_captions=cap(c.dtw_indices[q], c.dtw_distances[q], "dtw"),
        query_caption=f"query {emb.task[qrow]} ep{emb.episode[qrow]} t{emb.time[qrow]} ({emb.camera_setup[qrow]})",
        title=f"CLASS Fig. 14/15 (seed {seeds[0]}): top-{k} neighbours — embedding (top) vs action DTW (bottom)")
    save_figure(fig, f"class_fig14_15_neighbours_q{q}", figures_out, meta=stats)
fig
