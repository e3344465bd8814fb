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
# held-out episodes.

# %% tags=["parameters"]
dataset = None  # None: the metaworld sample (smoke: 8 of its episodes)
seed = 0
smoke = False
nq_values = [2, 4, 8, 16]
k_values = [16, 64, 256]
steps = 400  # training steps per (N_q, K)
figures_out = None

# %%
from workbench.data import load_dataset
from workbench.data.chunks import dataset_chunks
from workbench.data.normalize import split_episodes
from workbench.figures import notebook_dataset
from workbench.methods import ActVAEMethodConfig, sweep_rate_distortion
from workbench.viz.curves import plot_rate_distortion, rate_distortion_table
from workbench.viz.save import save_figure

if smoke:
    nq_values, k_values, steps = [2, 4], [8], 3
ds = load_dataset(notebook_dataset(dataset, smoke))
split = split_episodes(ds.infos, 0.25, seed)  # a quarter of each task's episodes held out, as training splits
train = dataset_chunks((ds.episode(i) for i in split["train"]), "raw", 16, stride=1)
test = dataset_chunks((ds.episode(i) for i in split["val"]), "raw", 16, stride=1)
print(f"{len(train.values)} training chunks, {len(test.values)} held-out chunks, shape {train.values.shape[1:]}")
print("action range", float(train.values.min()), float(train.values.max()))

# %%
# the smoke-preset Act-VAE widened to 64 (one encoder and one decoder block): ~50 ms a step on one core;
# the paper's sizes (width 128+, deeper) take ~20× longer here
config = ActVAEMethodConfig.preset("smoke")
if not smoke:
    config = config.replace(width=64, heads=4, code_dim=16, dead_code_window=50)
points = sweep_rate_distortion(train.values, nq_values, k_values, steps, mask=train.mask, eval_chunks=test.values,
                               eval_mask=test.mask, config=config, seed=seed, dynamic_range=2.0)
print(f"{'N_q':>4} {'K':>5} {'MSE':>10} {'PSNR dB':>8} {'rate':>7} {'usage':>6}")
for p in points:
    print(f"{p.nq:>4} {p.k:>5} {p.mse:>10.5f} {p.psnr:>8.2f} {p.rate:>7.3f} {p.usage:>6.2f}")

# %%
table = rate_distortion_table(points, title="CLAP Table V: Act-VAE reconstruction on held-out chunks")
meta = {"points": [dict(nq=p.nq, k=p.k, mse=p.mse, psnr=p.psnr, rate=p.rate, usage=p.usage) for p in points], "steps": steps}
save_figure(table, "clap_table5_rate_distortion", figures_out, meta=meta)
fig = plot_rate_distortion(points, group_by="nq", y="psnr", title="CLAP Fig. 5: PSNR against rate, one line per N_q")
save_figure(fig, "clap_fig5_rate_distortion", figures_out, meta=meta)
fig
