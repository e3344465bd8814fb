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

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
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
from workbench.viz.neighbours import plot_neighbour_grid
from workbench.viz.save import save_figure

data = notebook_dataset(dataset, smoke)
# the notebooks' shared recipe (workbench.figures.recipe_config): one cached run per method
runs = {
    "CLASS": train_recipe("class", smoke=smoke, seed=seed, dataset=data, steps=steps),
    "BC": train_recipe("bc", smoke=smoke, seed=seed, dataset=data, steps=steps),
}
k = 8 if not smoke else 4

# %%
stats, comparisons = {}, {}
for label, run in runs.items():
    emb = compute_embeddings(run.load(), data, stride=4 if smoke else stride)
    rng = np.random.default_rng(seed)
    queries = rng.choice(len(emb), size=min(num_scored if not smoke else 8, len(emb)), replace=False)
    c = compare_neighbours(emb, queries, k=k, exclude_same_episode=True, seed=seed)
    comparisons[label] = (emb, c)
    same_task = float(np.mean(emb.task[c.embedding_indices] == emb.task[c.queries][:, None]))
    view = camera_view_directions(load_dataset(data), emb.episode, emb.time, emb.camera)
    span = viewpoint_span(c.embedding_indices, c.queries, emb.camera_setup, emb.episode, view).summary(seed=seed)
    stats[label] = {"overlap_at_k": float(c.overlap.mean), "relative_dtw": float(c.relative_dtw.ratio),
                    "same_task_share": same_task, "k": k, "queries": int(len(queries)),
                    **{f"span_{name}": iv.to_dict() for name, iv in span.items()}}
    print(label, stats[label])

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
        title=f"CLASS Fig. 14/15: top-{k} neighbours — embedding (top) vs action DTW (bottom)")
    save_figure(fig, f"class_fig14_15_neighbours_q{q}", figures_out, meta=stats)
fig
