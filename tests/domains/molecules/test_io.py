import numpy as np
import pytest

from domains.molecules.io import read_molecules, read_sdf, read_xyz, write_sdf, write_xyz
from sciddm.errors import DataError

from .conftest import embedded

WATER = "3\nwater\nO 0.0 0.0 0.1173\nH 0.0 0.7572 -0.4692\nH 0.0 -0.7572 -0.4692\n"


def test_xyz_reads_multiple_records_and_round_trips(tmp_path):
    path = tmp_path / "two.xyz"
    path.write_text(WATER + "\n" + "2\nhydrogen\nH 0 0 0\nh 0 0 0.74\n")
    water, hydrogen = read_xyz(path)
    assert water.elements == ["O", "H", "H"] and hydrogen.elements == ["H", "H"]
    assert water.name == "water" and water.bonds is None
    assert np.isclose(np.linalg.norm(water.positions[1] - water.positions[0]), np.hypot(0.7572, 0.5865), atol=1e-12)
    out = tmp_path / "out.xyz"
    write_xyz([water, hydrogen], out)
    again = read_xyz(out)
    assert [m.elements for m in again] == [water.elements, hydrogen.elements]
    np.testing.assert_allclose(again[0].positions, water.positions, atol=1e-8)


def test_sdf_round_trip_keeps_charges_and_aromatic_bonds(tmp_path):
    nitro, benzene = embedded("C[N+](=O)[O-]"), embedded("c1ccccc1")
    path = tmp_path / "set.sdf"
    write_sdf([nitro, benzene], path)
    back = read_sdf(path)
    assert sorted(back[0].charges.tolist()) == sorted(nitro.charges.tolist()) == [-1] + [0] * 5 + [1]
    np.testing.assert_array_equal(back[0].bond_matrix(), nitro.bond_matrix())
    np.testing.assert_array_equal(back[1].bond_matrix(), benzene.bond_matrix())
    assert (benzene.bond_matrix() == 4).sum() == 12  # six aromatic ring bonds, both directions
    np.testing.assert_allclose(back[1].positions, benzene.positions, atol=1e-4)  # molfile: 4 decimals


@pytest.mark.parametrize(("text", "problem"), [
    (WATER + "5\nshort\nC 0 0 0\nH 1 0 0\n", "record 2: declares 5 atoms but only 2 atom lines follow"),
    ("3\nwater\nO 0 0 0\nH 1 0 0\nH 0 1 0\nH 0 0 1\n", "record 1: line 6: more atom lines than"),
    ("2\nx\nC 0 0 0\nXx 1 0 0\n", "record 1: line 4: unknown element 'Xx'"),
    ("2\nx\nC 0 0 0\nH 1 zero 0\n", "record 1: line 4: non-numeric coordinate"),
    ("2\nx\nC 0 0 0\nH nan 0 0\n", "record 1: line 4: coordinate is NaN or infinite"),
    ("2\nx\nC 0 0 0\nH 1 0\n", "record 1: line 4: expected 'element x y z'"),
    ("hello world\nthis is not xyz\n", "record 1: line 1: expected an atom count"),
    ("", "empty file"),
    ("\n\n  \n", "empty file"),
])
def test_bad_xyz_names_file_and_record(tmp_path, text, problem):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(DataError) as error:
        read_xyz(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_bad_sdf_record_is_named(tmp_path):
    good = tmp_path / "good.sdf"
    write_sdf([embedded("CCO")], good)
    block = good.read_text()
    broken = block.replace(block.splitlines()[3], "  9  9  0  0  0  0  0  0  0  0999 V2000")  # counts lie
    path = tmp_path / "bad.sdf"
    path.write_text(block + broken)
    with pytest.raises(DataError, match=r"bad\.sdf, record 2: RDKit cannot parse"):
        read_sdf(path)


def test_sdf_query_atom_is_not_an_element(tmp_path):
    path = tmp_path / "query.sdf"
    write_sdf([embedded("CO"), embedded("CO")], path)
    lines = path.read_text().splitlines()
    second = lines.index("$$$$") + 5  # first atom line of record 2
    lines[second] = lines[second][:31] + "A  " + lines[second][34:]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"query\.sdf, record 2: atom 1 is a dummy or query atom \('\*'\)"):
        read_sdf(path)


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("empty.sdf", "", "empty file"),
    ("garbage.sdf", "not a molfile\n$$$$\n", "record 1: RDKit cannot parse"),
    ("shape.pdb", "ATOM", "unsupported file type '.pdb'"),
])
def test_bad_molecule_files(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError) as error:
        read_molecules(path)
    assert str(path) in str(error.value) and problem in str(error.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_sdf(tmp_path / "absent.sdf")
