# %% [markdown]
# # CLAP §III-E — does Knowledge Matching keep the token policy's skill through RF post-training?
#
# CLAP-RF (Alg. 4, Eq. 6–7) attaches a rectified-flow action head to the token policy's
# representation and trains it, together with a trainable copy of the token policy, on robot chunks.
# Knowledge Matching adds α·KL(p_policy ‖ p_ref), a reverse KL to the frozen NTP reference, so the
# branch the head reads from does not forget what it knew (§III-E2). Claim: with KM (α > 0) more of
# the token policy's skill survives post-training than without (α = 0).
#
# Here: one CLAP-NTP (robot + pseudo-labelled video, the first notebook's chain), then CLAP-RF with
# α = 0 and α = `alpha` for each seed, same steps. "Skill kept" is measured on held-out episodes:
# the trainable branch's greedy token accuracy against the Act-VAE tokens of the true chunks (the
# reference's accuracy is the level to keep), its KL to the reference, and — what post-training is
# for — the RF head's executed-chunk error. Closed loop: every RF run of both arms on the same
# `rollouts` reach episodes through the parallel protocol (`workbench.eval.parallel`; placement
# seeds from 2000, fixed scene camera, 200-step cap), success with Wilson intervals; the small
# default keeps the notebook quick, the README's numbers use `rollouts=100`. The reference NTP is
# rolled out beside them: the skill there is to keep.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # seed of the Act-VAE, VD-VAE and NTP
smoke = False
seeds = [0, 1, 2]  # RF post-training seeds per arm
steps = 300  # training steps of every stage
alpha = 1.0  # KM weight of the α > 0 arm
labelled_fraction = 0.25  # share of each task's training episodes with actions
rollouts = 2  # closed-loop reach episodes per run (0 = offline only; the README: 100)
rollout_workers = 2  # environment processes of the closed-loop evaluation
figures_out = None

# %%
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.eval.latent_actions import compare_arms_closed_loop, score_token_policy
from workbench.figures import notebook_config, notebook_dataset, train_cached, train_clap_vdvae
from workbench.stats import seed_sweep, separated
from workbench.viz.save import save_figure

if smoke:
    seeds = [0]
data = notebook_dataset(dataset, smoke)
act, vd = train_clap_vdvae(smoke=smoke, seed=seed, dataset=data, steps=steps, labelled_fraction=labelled_fraction)
ntp = train_cached(notebook_config("clap_ntp", smoke=smoke, seed=seed, dataset=data, steps=steps,
                                   method_config={"vdvae_run": str(vd.run_dir), "use_video": True}, overrides=[f"data.split_seed={seed}"]), name="clap-ntp-video1")
stride = 4 if smoke else 1
reference = score_token_policy(ntp.load(), stride=stride)
print(f"reference NTP: token accuracy {reference.token_accuracy}, chunk MSE (decoded tokens) {reference.chunk_mse}")

# %%
arms = {"RF, α = 0 (no KM)": 0.0, f"RF + KM, α = {alpha:g}": float(alpha)}
scores: dict[str, list] = {a: [] for a in arms}
runs: dict[str, list] = {a: [] for a in arms}
for arm, a in arms.items():
    for s in seeds:
        cfg = notebook_config("clap_rf", smoke=smoke, seed=s, dataset=data, steps=steps,
                              method_config={"ntp_run": str(ntp.run_dir), "alpha": a}, overrides=[f"data.split_seed={seed}"])
        run = train_cached(cfg, name=f"clap-rf-alpha{a:g}")
        runs[arm].append(run)
        scores[arm].append(score_token_policy(run.load(), stride=stride))
        sc = scores[arm][-1]
        print(f"{arm}, seed {s}: token accuracy {sc.token_accuracy}, KL to reference {sc.kl_to_reference}, "
              f"RF chunk MSE {sc.chunk_mse}")

# mean over seeds with a Student-t interval; the arms differ when the intervals do not overlap
summary = {arm: {k: [float(getattr(x, k).estimate) for x in v] for k in ("token_accuracy", "kl_to_reference", "chunk_mse")}
           for arm, v in scores.items()}
sweeps = {a: {k: seed_sweep(vals) for k, vals in v.items()} for a, v in summary.items()}
for arm, v in sweeps.items():
    print(f"{arm}: token accuracy {v['token_accuracy'].format(3)} (reference {reference.token_accuracy.estimate:.3f}), "
          f"KL {v['kl_to_reference'].format(4)}, RF chunk MSE {v['chunk_mse'].format(3)} over seeds {seeds}")
no_km, km = (sweeps[a] for a in arms)
print("separated (token accuracy, KL, chunk MSE):", *(separated(no_km[k], km[k]) for k in no_km))

# %%
# closed loop: the reference NTP and both arms' runs on the same reach episodes; pooled = Wilson over all seeds' episodes
ref_arm = "reference NTP"
closed = compare_arms_closed_loop({ref_arm: [ntp.load()], **{a: [r.load() for r in runs[a]] for a in arms}}, rollouts,
                                  workers=rollout_workers) if rollouts else {}
for arm, c in closed.items():
    for s, sc in zip([seed] if arm == ref_arm else seeds, c.per_seed):
        print(f"{arm}, seed {s}: reach success {sc.successes}/{sc.episodes} = {sc.success_rate.format(2)} ({sc.seconds:.0f} s)")
    print(f"{arm}: pooled {c.pooled.format(3)}" + (f", over seeds {c.over_seeds.format(3)}" if c.over_seeds else ""))
if closed:
    print("separated (pooled reach success, α = 0 vs α > 0):", separated(*(closed[a].pooled for a in arms)))
else:
    print("closed loop: not run (rollouts = 0)")

# %%
panels = [("token_accuracy", "branch token accuracy (↑; dashed: reference)"), ("kl_to_reference", "KL to the reference (↓)"),
          ("chunk_mse", "RF executed-chunk MSE (↓)")]
titles = [t for _, t in panels] + (["closed-loop reach success (↑, Wilson; dashed: reference)"] if closed else [])
fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles)
colors = ["#ef553b", "#00cc96"]
for c, (key, _) in enumerate(panels, start=1):
    for i, arm in enumerate(arms):
        vals = [getattr(x, key) for x in scores[arm]]
        fig.add_trace(go.Scatter(x=[f"α={arms[arm]:g}<br>seed {s}" for s in seeds], y=[v.estimate for v in vals], mode="markers",
                                 name=arm, legendgroup=arm, showlegend=c == 1, marker=dict(size=9, color=colors[i]),
                                 error_y=dict(type="data", symmetric=False, array=[v.high - v.estimate for v in vals],
                                              arrayminus=[v.estimate - v.low for v in vals])), row=1, col=c)
fig.add_hline(y=reference.token_accuracy.estimate, line_dash="dash", row=1, col=1)
for i, arm in enumerate(arms if closed else []):
    cl = closed[arm]
    vals = [x.success_rate for x in cl.per_seed] + [cl.pooled]
    fig.add_trace(go.Scatter(x=[f"α={arms[arm]:g}<br>seed {s}" for s in seeds] + [f"α={arms[arm]:g}<br>pooled"],
                             y=[v.estimate for v in vals], mode="markers", name=arm, legendgroup=arm, showlegend=False,
                             marker=dict(size=9, color=colors[i]),
                             error_y=dict(type="data", symmetric=False, array=[v.high - v.estimate for v in vals],
                                          arrayminus=[v.estimate - v.low for v in vals])), row=1, col=4)
if closed:
    fig.add_hline(y=closed[ref_arm].pooled.estimate, line_dash="dash", row=1, col=4)
fig.update_layout(title="CLAP-RF post-training with and without Knowledge Matching (95 % intervals)", height=420)
save_figure(fig, "clap_rf_knowledge_matching", figures_out,
            meta={"reference": reference.to_dict(), "arms": summary,
                  "over_seeds": {a: {k: i.to_dict() for k, i in v.items()} for a, v in sweeps.items()}, "seeds": seeds, "steps": steps, "alpha": alpha,
                  "rollouts": rollouts, "closed_loop": {a: c.to_dict() for a, c in closed.items()}})
fig
