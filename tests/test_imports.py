"""The import rules of the library, enforced (import-linter contracts; imports inside functions count).

In plain words:

1. The library never imports the app (``app/``) nor streamlit: pages call the library, never the
   other way round.
2. Data knows no model: ``workbench.data`` never imports models, methods, training, evaluation,
   analysis or figures (a dataset reader must work without torch models around it).
3. Models never import training (nor methods, evaluation or analysis): a network is built from its
   config alone.
4. Methods never import evaluation (nor analysis): a method trains and embeds; judging it is eval's job.
5. No cycles between subpackages (nor between the modules of one subpackage): every dependency
   points one way, so each layer can be read, tested and moved on its own.

Each contract is checked on the library, and on a tiny synthetic package that breaks exactly that
rule, so a contract that could never fail is caught too.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

importlinter_cli = pytest.importorskip("importlinter.cli", reason="pip install import-linter (a dev extra)")

ROOT = Path(__file__).resolve().parents[1]

#: id -> (plain-words name, contract body with {root} for the top package)
CONTRACTS: dict[str, tuple[str, str]] = {
    "no_app": ("the library never imports the app nor streamlit",
               "type = forbidden\nsource_modules =\n    {root}\nforbidden_modules =\n    app\n    streamlit"),
    "data": ("data never imports models (nor methods, train, eval, analysis, viz)",
             "type = forbidden\nsource_modules =\n    {root}.data\nforbidden_modules =\n    {root}.models\n"
             "    {root}.methods\n    {root}.train\n    {root}.eval\n    {root}.analysis\n    {root}.viz"),
    "models": ("models never import train (nor methods, eval, analysis)",
               "type = forbidden\nsource_modules =\n    {root}.models\nforbidden_modules =\n    {root}.train\n"
               "    {root}.methods\n    {root}.eval\n    {root}.analysis"),
    "methods": ("methods never import eval (nor analysis)",
                "type = forbidden\nsource_modules =\n    {root}.methods\nforbidden_modules =\n    {root}.eval\n"
                "    {root}.analysis"),
    "acyclic": ("no cycles between subpackages",
                "type = acyclic_siblings\nancestors =\n    {root}\ndepth = 3"),
}  # fmt: skip


def _config(root: str, path: Path) -> Path:
    parts = [f"[importlinter]\nroot_packages =\n    {root}\ninclude_external_packages = True\n"]
    for cid, (name, body) in CONTRACTS.items():
        parts.append(f"[importlinter:contract:{cid}]\nname = {name}\n{body.format(root=root)}\n")
    path.write_text("\n".join(parts))
    return path


def _lint(config: Path, contract: str | None = None) -> int:
    return importlinter_cli.lint_imports(config_filename=str(config), no_cache=True, no_logo=True,
                                         limit_to_contracts=(contract,) if contract else ())  # fmt: skip


def test_the_library_keeps_every_import_rule(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT))
    rc = _lint(_config("workbench", tmp_path / "contracts.ini"))
    out = capsys.readouterr().out
    assert rc == 0, out
    assert out.count("KEPT") == len(CONTRACTS)


def _package(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    for d in {p.parent for p in root.rglob("*.py")}:
        (d / "__init__.py").touch()


#: per contract: a module that breaks it (lazy imports inside functions included)
BREAKS: dict[str, dict[str, str]] = {
    "no_app": {"viz/page.py": "def draw():\n    import streamlit\n"},
    "data": {"data/loader.py": "def vocab():\n    from fakewb.models.text import Tokenizer\n"},
    "models": {"models/net.py": "from fakewb.train import loop\n"},
    "methods": {"methods/caip.py": "def score():\n    from fakewb.eval import probe\n"},
    "acyclic": {"analysis/emb.py": "from fakewb.eval import features\n",
                "eval/features.py": "def f():\n    from fakewb.analysis import emb\n"},
}  # fmt: skip

CLEAN = {
    "data/loader.py": "",
    "models/text.py": "from fakewb.data import loader\nclass Tokenizer: ...\n",
    "methods/caip.py": "from fakewb.models import text\n",
    "train/loop.py": "from fakewb.methods import caip\n",
    "eval/probe.py": "from fakewb.train import loop\n",
    "eval/features.py": "from fakewb.analysis import emb\n",
    "analysis/emb.py": "from fakewb.train import loop\n",
    "viz/page.py": "",
}


def test_a_package_that_keeps_the_rules_passes(tmp_path, monkeypatch, capsys):
    pkg = tmp_path / "src"
    _package(pkg / "fakewb", CLEAN)
    monkeypatch.syspath_prepend(str(pkg))
    rc = _lint(_config("fakewb", tmp_path / "contracts.ini"))
    assert rc == 0, capsys.readouterr().out


@pytest.mark.parametrize("broken", list(BREAKS))
def test_each_rule_fails_on_a_package_that_breaks_it(broken, tmp_path, monkeypatch, capsys):
    # an upward import usually closes a cycle too, so only the broken contract itself is asserted
    pkg = tmp_path / "src"
    _package(pkg / "fakewb", {**CLEAN, **BREAKS[broken]})
    monkeypatch.syspath_prepend(str(pkg))
    rc = _lint(_config("fakewb", tmp_path / "contracts.ini"), broken)
    out = capsys.readouterr().out
    assert rc == 1 and "BROKEN" in out, out


# -- every file writer through workbench/atomic.py ------------------------------------------------

#: files allowed to write without the helper, and why
WRITER_EXCEPTIONS = {
    "workbench/atomic.py": "the helper itself",
    # builds a whole dataset in a temporary folder and swaps the folder into place (os.replace of a
    # directory): the files inside are never seen half-written
    "workbench/data/lerobot/writer.py": "a dataset folder written whole, then swapped in",
}
_RAW_WRITES = {"write_text", "write_bytes", "mkstemp", "replace", "savez", "save"}


def _raw_writes(path: Path) -> list[str]:
    import ast

    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _RAW_WRITES:
            owner = ast.unparse(node.func.value)
            if node.func.attr in ("replace", "save", "savez") and owner not in ("os", "np", "numpy", "torch"):
                continue  # str.replace, Method.save, … are not raw file writes
            hits.append(f"{path.relative_to(ROOT)}:{node.lineno} {owner}.{node.func.attr}")
    return hits


def test_every_file_writer_goes_through_the_atomic_helper():
    hits = [h for p in sorted((ROOT / "workbench").rglob("*.py")) if str(p.relative_to(ROOT)) not in WRITER_EXCEPTIONS
            for h in _raw_writes(p)]  # fmt: skip
    # np.save / np.savez onto a path from atomic_path are fine: the check is that the call sits in a `with atomic_path`
    bad = [h for h in hits if not _inside_atomic_path(h)]
    assert not bad, "write through workbench.atomic (atomic_path / atomic_write_text):\n" + "\n".join(bad)


def _inside_atomic_path(hit: str) -> bool:
    import ast

    rel, rest = hit.split(":", 1)
    line = int(rest.split()[0])
    tree = ast.parse((ROOT / rel).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.With) and any("atomic_path" in ast.unparse(i.context_expr) for i in node.items):
            if node.lineno <= line <= (node.end_lineno or node.lineno):
                return True
    return False
