# %% [markdown]
# # CLAP Table V and Fig. 5 — rate–distortion of the Act-VAE over N_q and K
#
# CLAP §IV-B: train one Act-VAE per number of register tokens N_q and codebook size K, measure the
# reconstruction MSE of held-out action chunks and report PSNR = 20·log10(R/√MSE) and the rate
# r = N_q·log2 K / (N_a·D_a·log2(R/√MSE)) (Eq. 8). Paper's claim: more tokens and a larger codebook
# lower the distortion (higher PSNR), at a higher rate; CLAP picks N_q = 16, K = 256 as the knee.
#
# Here: raw metaworld action chunks (H = 16 steps × 4 dims, in [−1, 1], so R = 2), every model
# from the same seed on the same batches (`workbench.methods.sweep_rate_distortion`), MSE on
# held-out episodes. The sweep is repeated for `num_seeds` seeds (the model initialisation, the
# batches and the held-out split follow the seed); every number is the mean over seeds with a 95 %
# Student-t interval, and the comparisons the claim rests on (a larger K at fixed N_q, more N_q at
# fixed K) are PSNR differences paired by seed (`workbench.stats.seed_sweep`).

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0  # first seed; seeds seed … seed + num_seeds − 1
smoke = False
num_seeds = 3
nq_values = [2, 4, 8, 16]
k_values = [16, 64, 256]
steps = 400  # training steps per (N_q, K)
figures_out = None

# %%
from workbench.data import load_dataset
from workbench.data.chunks import dataset_chunks
from workbench.data.normalize import split_episodes
from workbench.figures import notebook_dataset
from workbench.methods import ActVAEMethodConfig, RateDistortionPoint, sweep_rate_distortion
from workbench.stats import seed_sweep
from workbench.viz.curves import plot_rate_distortion, rate_distortion_table
from workbench.viz.save import save_figure

if smoke:
    nq_values, k_values, steps = [2, 4], [8], 3
seeds = [seed] if smoke else list(range(seed, seed + num_seeds))
ds = load_dataset(notebook_dataset(dataset, smoke))
# the smoke-preset Act-VAE widened to 64 (one encoder and one decoder block): ~50 ms a step on one core;
# the paper's sizes (width 128+, deeper) take ~20× longer here
config = ActVAEMethodConfig.preset("smoke")
if not smoke:
    config = config.replace(width=64, heads=4, code_dim=16, dead_code_window=50)

# %%
sweeps = {}  # seed -> [RateDistortionPoint in (N_q, K) order]
for s in seeds:
    split = split_episodes(ds.infos, 0.25, s)  # a quarter of each task's episodes held out, as training splits
    train = dataset_chunks((ds.episode(i) for i in split["train"]), "raw", 16, stride=1)
    test = dataset_chunks((ds.episode(i) for i in split["val"]), "raw", 16, stride=1)
    print(f"seed {s}: {len(train.values)} training chunks, {len(test.values)} held-out chunks, shape {train.values.shape[1:]}, "
          f"action range [{float(train.values.min()):.2f}, {float(train.values.max()):.2f}]")
    sweeps[s] = sweep_rate_distortion(train.values, nq_values, k_values, steps, mask=train.mask, eval_chunks=test.values,
                                      eval_mask=test.mask, config=config, seed=s, dynamic_range=2.0)
    for p in sweeps[s]:
        print(f"  N_q {p.nq:>2} K {p.k:>3}: MSE {p.mse:.5f}, PSNR {p.psnr:.2f} dB, rate {p.rate:.3f}, usage {p.usage:.2f}")

# %% every number with its interval over seeds
cells = [(p.nq, p.k) for p in sweeps[seeds[0]]]
psnr = {c: [next(p.psnr for p in sweeps[s] if (p.nq, p.k) == c) for s in seeds] for c in cells}
per_cell = {}
for i, c in enumerate(cells):
    ps = [sweeps[s][i] for s in seeds]
    per_cell[c] = {name: seed_sweep([getattr(p, name) for p in ps]) for name in ("mse", "psnr", "rate", "usage")}
points = [RateDistortionPoint(nq=c[0], k=c[1], steps=steps, **{n: iv.estimate for n, iv in per_cell[c].items()}) for c in cells]
print(f"{'N_q':>4} {'K':>5} {'PSNR dB [95 %]':>22} {'rate':>7} {'usage [95 %]':>20}")
for c in cells:
    iv = per_cell[c]
    print(f"{c[0]:>4} {c[1]:>5} {iv['psnr'].format(2):>22} {iv['rate'].estimate:>7.3f} {iv['usage'].format(2):>20}")
# the claim's comparisons, paired by seed: K largest vs smallest at each N_q, N_q largest vs smallest at each K
contrasts = {}
for nq in nq_values:
    if len(k_values) > 1:
        lo, hi = (nq, min(k_values)), (nq, max(k_values))
        contrasts[f"N_q={nq}: K={hi[1]} − K={lo[1]}"] = seed_sweep([a - b for a, b in zip(psnr[hi], psnr[lo])])
for k in k_values:
    if len(nq_values) > 1:
        lo, hi = (min(nq_values), k), (max(nq_values), k)
        contrasts[f"K={k}: N_q={hi[0]} − N_q={lo[0]}"] = seed_sweep([a - b for a, b in zip(psnr[hi], psnr[lo])])
best = max(cells, key=lambda c: per_cell[c]["psnr"].estimate)
for c in cells:
    if c != best:
        contrasts.setdefault(f"best N_q={best[0]}, K={best[1]} − N_q={c[0]}, K={c[1]}",
                             seed_sweep([a - b for a, b in zip(psnr[best], psnr[c])]))
for name, iv in contrasts.items():
    print(f"PSNR difference {name}: {iv.format(2)} dB")

# %%
table = rate_distortion_table(points, title=f"CLAP Table V: Act-VAE reconstruction on held-out chunks (mean over {len(seeds)} seeds)")
meta = {"points": [dict(nq=c[0], k=c[1], **{n: iv.to_dict() for n, iv in per_cell[c].items()}) for c in cells],
        "per_seed": {str(s): [dict(nq=p.nq, k=p.k, mse=p.mse, psnr=p.psnr, rate=p.rate, usage=p.usage) for p in sweeps[s]] for s in seeds},
        "psnr_differences_db": {name: iv.to_dict() for name, iv in contrasts.items()}, "seeds": seeds, "steps": steps}
save_figure(table, "clap_table5_rate_distortion", figures_out, meta=meta)
fig = plot_rate_distortion(points, group_by="nq", y="psnr", title=f"CLAP Fig. 5: PSNR against rate, one line per N_q (mean over {len(seeds)} seeds)")
save_figure(fig, "clap_fig5_rate_distortion", figures_out, meta=meta)
fig
