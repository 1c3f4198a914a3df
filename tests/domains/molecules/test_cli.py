"""``sciddm evaluate molecules`` end to end: JSON on stdout, one-line error and non-zero exit on bad input."""

import json

from domains.molecules.io import write_sdf, write_xyz
from sciddm.cli import main

from .conftest import embedded


def test_evaluate_prints_metrics_json(tmp_path, capsys):
    write_sdf([embedded("CCO"), embedded("c1ccccc1")], tmp_path / "gen.sdf")
    write_sdf([embedded("CCO"), embedded("CCN")], tmp_path / "ref.sdf")
    code = main(["evaluate", "molecules", str(tmp_path / "gen.sdf"), "--reference", str(tmp_path / "ref.sdf"),
                 "--fcd", "false"])
    metrics = json.loads(capsys.readouterr().out)
    assert code == 0 and metrics["validity"] == 1.0 and metrics["novelty"] == 0.5 and "fcd" not in metrics


def test_evaluate_bad_file_exits_nonzero_naming_file_and_record(tmp_path, capsys):
    path = tmp_path / "gen.xyz"
    write_xyz([embedded("C")], path)
    path.write_text(path.read_text() + "2\nbroken\nC 0 0 0\n")
    assert main(["evaluate", "molecules", str(path)]) != 0
    error = capsys.readouterr().err
    assert str(path) in error and "record 2" in error and "declares 2 atoms but only 1" in error
    assert len(error.strip().splitlines()) == 1


def test_evaluate_bad_option_value_exits_nonzero(tmp_path, capsys):
    write_xyz([embedded("C")], tmp_path / "gen.xyz")
    assert main(["evaluate", "molecules", str(tmp_path / "gen.xyz"), "--strain", "yes"]) != 0
    assert "option 'strain' must be true or false, got 'yes'" in capsys.readouterr().err
