"""workbench.atomic: files appear whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workbench.atomic import atomic_link


def test_atomic_link_links_where_it_can_and_copies_where_it_cannot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "bundle.js"
    source.write_bytes(os.urandom(4096))
    atomic_link(source, tmp_path / "served" / "bundle.js")  # the folder is made
    linked = tmp_path / "served" / "bundle.js"
    assert linked.read_bytes() == source.read_bytes() and linked.stat().st_ino == source.stat().st_ino

    def no_links(*_args) -> None:
        raise OSError("cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    atomic_link(source, linked)  # replaces the link with a copy
    assert linked.read_bytes() == source.read_bytes() and linked.stat().st_ino != source.stat().st_ino
    assert sorted(p.name for p in linked.parent.iterdir()) == ["bundle.js"]  # nothing staged is left behind
