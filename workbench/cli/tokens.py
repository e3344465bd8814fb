"""``workbench tokens``: CLAP pseudo action tokens from a clap_vdvae run — label a video dataset,
score the labels on held-out labelled episodes (:mod:`workbench.eval.latent_actions`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.cli.exit import EXIT_OK


def _label(args: argparse.Namespace) -> int:
    from workbench.eval.latent_actions import label_video, load_labels
    from workbench.train.run import load_run

    restored = load_run(args.run)
    out = label_video(restored, args.dataset, args.out, camera=args.camera, stride=args.stride)
    labels = load_labels(out)
    print(f"{len(labels['tokens'])} transitions of {len(set(labels['episode'].tolist()))} episodes labelled with "
          f"{labels['tokens'].shape[1]} tokens each by run {restored.id}: {out}")
    return EXIT_OK


def _score(args: argparse.Namespace) -> int:
    from workbench.eval.latent_actions import score_pseudo_tokens
    from workbench.train.run import load_run

    s = score_pseudo_tokens(load_run(args.run), split=args.split, stride=args.stride)
    if args.json:
        print(json.dumps(s.to_dict(), indent=1))
        return EXIT_OK
    print(f"run {s.run}: {s.samples} transitions of {s.episodes} held-out labelled episodes, K = {s.codebook_size}, Nq = {s.tokens_per_chunk}")
    print(f"  token accuracy     VD-VAE {s.accuracy}   copy previous {s.copy_previous}   majority {s.chance_majority}   uniform {s.chance_uniform:.3f}")
    print(f"  decoded chunk MSE  VD-VAE {s.decoded_mse}   copy previous {s.decoded_mse_copy_previous}   "
          f"true tokens {s.decoded_mse_true_tokens}   mean chunk {s.mean_chunk_mse:.3f}")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokens", help="CLAP pseudo action tokens from a clap_vdvae run: label video, score the labels")
    tsub = tok.add_subparsers(dest="tokens_command", required=True)
    lab = tsub.add_parser("label", help="label every (o_t, o_t+H) of a dataset (actions ignored) -> .npz")
    lab.add_argument("run", help="a clap_vdvae run directory")
    lab.add_argument("dataset", help="any dataset the workbench reads, used as video only")
    lab.add_argument("--out", type=Path, required=True, help="the .npz to write (episode, time, tokens)")
    lab.add_argument("--camera", default=None, help="camera (default: each episode's first)")
    lab.add_argument("--stride", type=int, default=1)
    lab.set_defaults(func=_label)
    sc = tsub.add_parser("score", help="token accuracy and decoded-chunk error on held-out labelled episodes vs baselines")
    sc.add_argument("run", help="a clap_vdvae run directory")
    sc.add_argument("--split", default="val", choices=("val", "train"))
    sc.add_argument("--stride", type=int, default=1)
    sc.add_argument("--json", action="store_true")
    sc.set_defaults(func=_score)
