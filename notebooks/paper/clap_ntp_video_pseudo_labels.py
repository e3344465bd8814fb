# %% [markdown]
# # CLAP §III-D — does pseudo-labelled video help the token policy?
#
# CLAP trains its token policy CLAP-NTP (Alg. 3, Eq. 5) on robot action tokens *plus* VD-VAE pseudo
# tokens of human video, and claims the video adds skill the robot demonstrations alone do not give
# (Fig. 10: fewer semantic failures). Our setting: a share `labelled_fraction` of each task's
# training episodes keeps its actions (the robot demos); the other training episodes are used as
# video only (actions withheld) and labelled by the VD-VAE. Two arms, same robot demos, same steps,
# same seeds: NTP on robot tokens only (`use_video=False`) and NTP on robot + pseudo tokens.
#
# Measured on the held-out episodes (never trained on, all with actions): greedy token accuracy
# against the Act-VAE tokens of the true chunk, and the error of the executed (decoded) chunk.
# Closed loop: every NTP of both arms on the same `rollouts` reach episodes (placement seeds from 2000,
# the generator's fixed scene camera, 200-step cap, 8 actions per decision), run through the
# parallel protocol (`workbench.eval.parallel`), success with Wilson intervals. Reach is where the
# reference protocol says policies separate (blind replay 13 %, state k-NN on 8 demos 18–22 %).
# The small default keeps the notebook quick; the README's numbers use `rollouts=100`.
# First, the pseudo tokens themselves are scored against the truth.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # seed of the Act-VAE and VD-VAE
smoke = False
seeds = [0, 1, 2]  # NTP training seeds per arm
steps = 300  # training steps of every stage
labelled_fraction = 0.25  # share of each task's training episodes with actions (the robot demos)
rollouts = 2  # closed-loop reach episodes per run (0 = offline only; the README: 100)
rollout_workers = 2  # environment processes of the closed-loop evaluation
figures_out = None

# %%
from workbench.eval.latent_actions import (compare_arms_closed_loop, probe_token_features, score_pseudo_tokens, score_token_policy,
                                           sweep_arms)
from workbench.figures import notebook_dataset, train_arms, train_clap_vdvae
from workbench.stats import separated
from workbench.viz.curves import plot_interval_panels
from workbench.viz.save import save_figure

if smoke:
    seeds = [0]
data = notebook_dataset(dataset, smoke)
act, vd = train_clap_vdvae(smoke=smoke, seed=seed, dataset=data, steps=steps, labelled_fraction=labelled_fraction)
pseudo = score_pseudo_tokens(vd.load(), stride=4 if smoke else 1)
print(f"pseudo tokens on {pseudo.samples} held-out transitions ({pseudo.episodes} episodes), K = {pseudo.codebook_size}:")
print(f"  accuracy {pseudo.accuracy}  copy-previous {pseudo.copy_previous}  majority {pseudo.chance_majority}  "
      f"uniform {pseudo.chance_uniform:.3f}")
print(f"  decoded MSE {pseudo.decoded_mse}  copy-previous {pseudo.decoded_mse_copy_previous}  "
      f"true tokens {pseudo.decoded_mse_true_tokens}  mean chunk {pseudo.mean_chunk_mse:.3f}")
# what the frozen features hold: a linear probe fit on the same labelled episodes, scored on the held-out ones
probe = probe_token_features(vd.load(), stride=4 if smoke else 1)
print(f"  linear probe on the frozen features (fit on the labelled training episodes): accuracy {probe}")

# %%
arms = {"robot demos only": False, "robot + pseudo-labelled video": True}
runs = train_arms("clap_ntp", {arm: {"vdvae_run": str(vd.run_dir), "use_video": v} for arm, v in arms.items()}, seeds,
                  names={arm: f"clap-ntp-video{int(v)}" for arm, v in arms.items()}, smoke=smoke, split_seed=seed, dataset=data,
                  steps=steps)  # fmt: skip
scores = {arm: [score_token_policy(r.load(), stride=4 if smoke else 1) for r in runs[arm]] for arm in arms}
for arm in arms:
    for s, sc in zip(seeds, scores[arm]):
        print(f"{arm}, seed {s}: token accuracy {sc.token_accuracy}, chunk MSE {sc.chunk_mse}, NLL {sc.nll}")

# mean over seeds with a Student-t interval; the arms differ when the intervals do not overlap
sweep = sweep_arms(scores, ("token_accuracy", "chunk_mse"))
sweeps = sweep.over_seeds
for a, v in sweeps.items():
    print(f"{a}: token accuracy {v['token_accuracy'].format(3)}, chunk MSE {v['chunk_mse'].format(3)} over seeds {seeds}")
robot, video = (sweeps[a] for a in arms)
print("separated (token accuracy, chunk MSE):", separated(robot["token_accuracy"], video["token_accuracy"]),
      separated(robot["chunk_mse"], video["chunk_mse"]))

# %%
# closed loop: both arms' runs on the same reach episodes; pooled = Wilson over all seeds' episodes
closed = compare_arms_closed_loop({a: [r.load() for r in runs[a]] for a in arms}, rollouts, workers=rollout_workers) if rollouts else {}
for c in closed.values():
    print(c.describe(seeds))
if closed:
    print("separated (pooled reach success):", separated(*(c.pooled for c in closed.values())))
else:
    print("closed loop: not run (rollouts = 0)")

# %%
panels = {title: {arm: ([f"{arm}<br>seed {s}" for s in seeds], [getattr(x, key) for x in scores[arm]]) for arm in arms}
          for key, title in (("token_accuracy", "held-out token accuracy (↑)"), ("chunk_mse", "executed-chunk MSE, raw actions (↓)"))}
if closed:
    panels["closed-loop reach success (↑, Wilson)"] = {
        arm: ([f"{arm}<br>seed {s}" for s in seeds] + [f"{arm}<br>pooled"], [x.success_rate for x in c.per_seed] + [c.pooled])
        for arm, c in closed.items()}  # fmt: skip
fig = plot_interval_panels(panels, colors=["#636efa", "#ef553b"],
                           title="CLAP-NTP: robot tokens only vs robot + VD-VAE pseudo tokens (95 % intervals)")
save_figure(fig, "clap_ntp_video_pseudo_labels", figures_out,
            meta={"pseudo_tokens": pseudo.to_dict(), "feature_probe": probe.to_dict(), **sweep.to_dict(), "seeds": seeds, "steps": steps,
                  "labelled_fraction": labelled_fraction, "rollouts": rollouts, "closed_loop": {a: c.to_dict() for a, c in closed.items()}})
fig
