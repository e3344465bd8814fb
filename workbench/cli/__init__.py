"""The ``workbench`` command: thin entry points over the library, one module per command group.

``data`` (:mod:`.data`), ``train`` and ``runs`` (:mod:`.train`), ``eval`` (:mod:`.evaluate`),
``rerun`` (:mod:`.rerun`), ``figures`` (:mod:`.figures`) and ``compare`` (:mod:`.compare`). Every command follows one exit-code
convention (:mod:`.exit`): errors the user can fix end with one line on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from workbench.cli import compare, data, evaluate, figures, rerun, tokens, train
from workbench.cli.exit import EXIT_INTERRUPTED, EXIT_PROBLEM, one_line, user_errors

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="workbench", description="actionlens workbench: datasets, training, analysis.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (data, train, figures, rerun, evaluate, compare, tokens):
        group.add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except user_errors() as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return EXIT_PROBLEM
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
