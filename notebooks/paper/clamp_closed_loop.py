# %% [markdown]
# # CLAMP in closed loop: a policy on the frozen D+XYZ encoder vs the same policy on RGB
#
# CLAMP's Table I/III measure pre-trained encoders by the closed-loop success of a policy trained
# on top of them, and its App. A/B say depth + XYZ virtual views beat RGB. Here both CLAMP
# encoders are pre-trained on the same expert demonstrations (the generator's metaworld data with
# `scene`, `wrist` and `scene2` depth), frozen, and an MLP head (or the flow head) is trained on
# each one's features to predict the raw action chunk. Each policy is then rolled out in metaworld
# on evaluation seeds 2000… (disjoint from the training placements): the D+XYZ policy gets its
# five virtual views re-rendered from the live depth at every decision, through the same code that
# made its training views (`workbench.eval.parallel.make_depth_rig`); the RGB policy gets the
# scene camera's frame. Claim (App. A/B, Table III "RGB instead of D+XYZ"): D+XYZ ≥ RGB.
# `variants` adds Table III's other ablations that fit, each pre-trained and evaluated the same
# way: without the two virtual wrist views (claim: wrist views help) and without STRING (learned
# absolute positions; claim: STRING helps). Each claim's verdict compares its two arms pooled over
# the seeds: agrees / disagrees when the Wilson intervals separate, else inconclusive.
# Reach is the task where the reference protocol says representations separate (blind replay
# 13 %, state k-NN on 32 demos 32 %; `shared/reference/metaworld-baselines.md`).

# %% tags=["parameters"]
dataset = None  # None: generate `demos` demonstrations per task (fixed camera) under the runs root
seed = 0
seeds = None  # None: (0, 1); pre-training seeds, each arm pre-trained and evaluated once per seed
smoke = False
tasks = ["reach"]
demos = 32  # expert demonstrations per task (placements 10000·0 + j)
steps = 300  # CLAMP pre-training steps (the `sample` preset)
head = "mlp"  # "mlp" (masked L1 regression) or "flow" (flow matching)
variants = ["full", "rgb"]  # of "full" (D+XYZ, STRING, wrist views), "no_wrist", "no_string", "rgb"
head_steps = 1000  # head training steps on the frozen features
episodes = 100  # closed-loop episodes per task, arm and seed
execute = 8  # actions executed per predicted chunk (the reference protocol)
view_size = 32  # side of each virtual view (five views tile to 32 × 160)
workers = 2  # environment processes
figures_out = None

# %%
import time

import plotly.graph_objects as go

from workbench.eval.head_rollouts import rollout_frozen_head
from workbench.eval.head_training import HeadConfig
from workbench.eval.parallel import ParallelRolloutConfig
from workbench.figures import generated_dataset, notebook_config, resolve_dataset, train_cached
from workbench.stats import wilson_interval
from workbench.train.run import load_run
from workbench.viz.save import save_figure

seed_list = tuple(seeds) if seeds is not None else ((seed,) if smoke else (0, 1))
if smoke:  # a pipeline check: 2 short demos, a few steps of everything, 2 short episodes
    demos, head_steps, episodes, max_steps = 2, 20, 2, 24
else:
    max_steps = 200  # the reference protocol's cap
t_start = time.perf_counter()
data = resolve_dataset(dataset) if dataset is not None else generated_dataset(
    tasks, demos, camera_setup="fixed", image_size=64, max_steps=40 if smoke else 100, workers=workers)
t_data = time.perf_counter() - t_start
# Table III's arms; the full model's method config stays as it was, so its cached runs are reused
VARIANTS = {
    "full": ("D+XYZ views (CLAMP)", {"image_input": "dxyz", "view_size": view_size}),
    "no_wrist": ("without wrist views", {"image_input": "dxyz", "view_size": view_size, "wrist_views": False}),
    "no_string": ("without STRING", {"image_input": "dxyz", "view_size": view_size, "positions": "learned"}),
    "rgb": ("RGB", {"image_input": "rgb"}),
}
unknown = [v for v in variants if v not in VARIANTS]
if unknown:
    raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
ARMS = dict(VARIANTS[v] for v in variants)
print(f"data: {data} ({t_data:.0f} s)")

# %%
results = {label: [] for label in ARMS}
timing = {"data": round(t_data, 1)}
for s in seed_list:
    for label, mc in ARMS.items():
        t0 = time.perf_counter()
        slug = "clamp-closed-loop-" + "-".join(f"{k}{v}" for k, v in mc.items())
        run = train_cached(notebook_config("clamp", smoke=smoke, seed=s, dataset=str(data), steps=steps, method_config=mc,
                                           overrides=["data.val_fraction=0"]), name=slug)  # fmt: skip
        trained = load_run(run.run_dir)
        t1 = time.perf_counter()
        r = rollout_frozen_head(trained, tasks, episodes, head=HeadConfig(kind=head, steps=head_steps, seed=s),
                                rollout=ParallelRolloutConfig(max_steps=max_steps, execute=execute,
                                                              image_size=int(trained.sample_meta.image_size), workers=workers))  # fmt: skip
        results[label].append(r)
        timing[f"{label} seed {s}"] = {"pretrain": round(t1 - t0, 1), **r.seconds}
        ci = r.rate()
        print(f"seed {s} {label:22s} success {sum(r.successes)}/{sum(r.episodes)} = {ci.estimate:.2f} "
              f"[{ci.low:.2f}, {ci.high:.2f}]  head loss {r.head_loss:.3f}  {timing[f'{label} seed {s}']}")  # fmt: skip

# %%
pooled = {label: wilson_interval(sum(sum(r.successes) for r in rs), sum(sum(r.episodes) for r in rs)) for label, rs in results.items()}
# each paper claim: the full model above the ablation (Table III)
CLAIMS = {"D+XYZ > RGB": "rgb", "wrist views help": "no_wrist", "STRING helps": "no_string"}
verdicts = {}
for claim, ablation in CLAIMS.items():
    if "full" not in variants or ablation not in variants:
        continue
    full, abl = pooled[VARIANTS["full"][0]], pooled[VARIANTS[ablation][0]]
    if full.low > abl.high:
        verdicts[claim] = "agrees (full model above, intervals separate)"
    elif abl.low > full.high:
        verdicts[claim] = f"disagrees ({VARIANTS[ablation][0]} above, intervals separate)"
    else:
        verdicts[claim] = "inconclusive (intervals overlap)"
for label, ci in pooled.items():
    print(f"{label:22s} pooled over seeds {seed_list}: {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] of {ci.n} episodes")
for claim, v in verdicts.items():
    print(f"{claim}: {v}")
print(f"total {time.perf_counter() - t_start:.0f} s")

# %%
fig = go.Figure()
for label, rs in results.items():
    xs = [f"seed {s}" for s in seed_list] + ["pooled"]
    cis = [r.rate() for r in rs] + [pooled[label]]
    fig.add_trace(go.Bar(x=xs, y=[c.estimate for c in cis], name=label,
                         error_y=dict(type="data", symmetric=False, array=[c.high - c.estimate for c in cis],
                                      arrayminus=[c.estimate - c.low for c in cis])))  # fmt: skip
fig.update_layout(title=f"Frozen CLAMP encoder + {head} head, closed loop on {', '.join(tasks)} ({episodes} episodes per seed; 95 % Wilson)",
                  barmode="group", yaxis=dict(range=[0, 1.05], title="success rate"), template="plotly_white")  # fmt: skip
meta = {label: {"per_seed": [r.to_dict() for r in rs],
                "pooled": {"rate": pooled[label].estimate, "low": pooled[label].low, "high": pooled[label].high, "n": pooled[label].n}}
        for label, rs in results.items()}  # fmt: skip
meta |= {"verdicts": verdicts, "variants": list(variants), "seeds": list(seed_list), "tasks": list(tasks), "demos": demos, "steps": steps, "head": head,
         "head_steps": head_steps, "episodes": episodes, "execute": execute, "max_steps": max_steps, "seconds": timing}  # fmt: skip
save_figure(fig, f"clamp_closed_loop_{head}", figures_out, meta=meta)
fig
