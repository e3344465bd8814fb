"""The one exit-code convention of every ``workbench`` command.

* ``EXIT_OK`` (0) — done;
* ``EXIT_FAILED`` (1) — the command ran and the answer is "no": a dataset has problems, a
  notebook failed, a job ended in failure;
* ``EXIT_PROBLEM`` (2) — a problem the user can fix (a bad path, config, run or dataset): one
  line on stderr naming it, never a traceback (argparse's own usage errors are 2 as well);
* ``EXIT_INTERRUPTED`` (130) — Ctrl-C.

:func:`user_errors` lists the exception types that mean ``EXIT_PROBLEM``; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PROBLEM", "one_line", "user_errors"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PROBLEM = 2
EXIT_INTERRUPTED = 130


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors the user can fix (each domain's error type, bad values, missing or existing files)."""
    from workbench.eval.results import EvalError
    from workbench.train import CheckpointError, JobError
    from workbench.types import DataError

    # ConfigError is a ValueError
    # OSError: a path that cannot be written or read (a file where a folder should be, no permission)
    return (DataError, EvalError, JobError, CheckpointError, ValueError, OSError)


def one_line(e: BaseException) -> str:
    """The problem on one line (a YAML parser's message spans several, with a caret drawing)."""
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip())
