"""Atomic output: complete files or none, with every suffix kept for format detection."""

from __future__ import annotations

import json

import pytest

from sciddm.io import atomic_path, atomic_write, write_json


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_keeps_all_suffixes_and_renames(tmp_path):
    target = tmp_path / "volume.nii.gz"
    with atomic_path(target) as tmp:
        assert "".join(tmp.suffixes[-2:]) == ".nii.gz" and tmp.parent == tmp_path
        tmp.write_bytes(b"data")
    assert target.read_bytes() == b"data" and len(list(tmp_path.iterdir())) == 1


def test_write_json_round_trips(tmp_path):
    write_json(tmp_path / "m.json", {"b": 1.5, "a": [1, 2]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": [1, 2], "b": 1.5}
