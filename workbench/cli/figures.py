"""``workbench figures``: execute every paper notebook and collect its figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.cli.exit import EXIT_FAILED, EXIT_OK


def _figures(args: argparse.Namespace) -> int:
    from workbench.figures import reproduce_figures

    Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable folder fails now, not after a notebook ran
    results = reproduce_figures(args.out, smoke=args.smoke, only=args.only)
    failed = [r for r in results if not r.ok]
    for r in results:
        print(f"{'ok  ' if r.ok else 'FAIL'} {r.path.name:<40} {r.seconds:6.1f}s" + (f"  {r.error}" if r.error else ""))
    print(f"{len(results) - len(failed)} of {len(results)} notebooks ran; figures in {args.out}")
    return EXIT_FAILED if failed else EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    fig = sub.add_parser("figures", help="execute every paper notebook and write the figures to one folder")
    fig.add_argument("--out", type=Path, default=Path("figures"))
    fig.add_argument("--smoke", action="store_true", help="tiny settings (what the tests run)")
    fig.add_argument("--only", action="append", help="only notebooks whose name contains this")
    fig.set_defaults(func=_figures)
