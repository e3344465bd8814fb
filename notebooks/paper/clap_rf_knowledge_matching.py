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
from workbench.eval.latent_actions import compare_arms_closed_loop, score_token_policy, sweep_arms
from workbench.figures import notebook_config, notebook_dataset, train_arms, train_cached, train_clap_vdvae
from workbench.stats import separated
from workbench.viz.curves import plot_interval_panels
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
runs = train_arms("clap_rf", {arm: {"ntp_run": str(ntp.run_dir), "alpha": a} for arm, a in arms.items()}, seeds,
                  names={arm: f"clap-rf-alpha{a:g}" for arm, a in arms.items()}, smoke=smoke, split_seed=seed, dataset=data,
                  steps=steps)  # fmt: skip
scores = {arm: [score_token_policy(r.load(), stride=stride) for r in runs[arm]] for arm in arms}
for arm in arms:
    for s, sc in zip(seeds, scores[arm]):
        print(f"{arm}, seed {s}: token accuracy {sc.token_accuracy}, KL to reference {sc.kl_to_reference}, "
              f"RF chunk MSE {sc.chunk_mse}")

# mean over seeds with a Student-t interval; the arms differ when the intervals do not overlap
sweep = sweep_arms(scores, ("token_accuracy", "kl_to_reference", "chunk_mse"))
sweeps = sweep.over_seeds
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
    print(c.describe([seed] if arm == ref_arm else seeds))
if closed:
    print("separated (pooled reach success, α = 0 vs α > 0):", separated(*(closed[a].pooled for a in arms)))
else:
    print("closed loop: not run (rollouts = 0)")

# %%
def xs(arm: str, pooled: bool = False) -> list[str]:
    return [f"α={arms[arm]:g}<br>seed {s}" for s in seeds] + ([f"α={arms[arm]:g}<br>pooled"] if pooled else [])


titles = {"token_accuracy": "branch token accuracy (↑; dashed: reference)", "kl_to_reference": "KL to the reference (↓)",
          "chunk_mse": "RF executed-chunk MSE (↓)"}
panels = {title: {arm: (xs(arm), [getattr(x, key) for x in scores[arm]]) for arm in arms} for key, title in titles.items()}
references = {titles["token_accuracy"]: reference.token_accuracy.estimate}
if closed:
    closed_title = "closed-loop reach success (↑, Wilson; dashed: reference)"
    panels[closed_title] = {arm: (xs(arm, pooled=True), [x.success_rate for x in closed[arm].per_seed] + [closed[arm].pooled])
                            for arm in arms}  # fmt: skip
    references[closed_title] = closed[ref_arm].pooled.estimate
fig = plot_interval_panels(panels, colors=["#ef553b", "#00cc96"], references=references,
                           title="CLAP-RF post-training with and without Knowledge Matching (95 % intervals)")
save_figure(fig, "clap_rf_knowledge_matching", figures_out,
            meta={"reference": reference.to_dict(), **sweep.to_dict(), "seeds": seeds, "steps": steps, "alpha": alpha,
                  "rollouts": rollouts, "closed_loop": {a: c.to_dict() for a, c in closed.items()}})
fig
