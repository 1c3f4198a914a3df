"""Readers and writers for multi-molecule XYZ and SDF files.

XYZ (one record per molecule, records back to back, blank lines between records tolerated)::

    <number of atoms n>
    <comment line: the molecule's name>
    <element> <x> <y> <z>        (n lines, Angstrom; extra columns after z are ignored)

XYZ carries no bonds or charges: molecules read from it have ``bonds=None`` (inferred later from the geometry)
and zero formal charges. SDF (V2000/V3000 via RDKit) carries bonds and charges; records are read unsanitised
so that chemically invalid generated molecules can still be evaluated (they count as invalid), while records
RDKit cannot parse at all raise :class:`~sciddm.errors.DataError`. Records are numbered from 1 in messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rdkit import Chem, RDLogger

from domains.molecules.elements import ATOMIC_NUMBERS, normalise_symbol
from domains.molecules.molecule import Molecule, from_rdkit, to_rdkit
from sciddm.errors import DataError
from sciddm.io import atomic_write


def read_xyz(path: str | Path) -> list[Molecule]:
    """Read every molecule of a (multi-molecule) XYZ file; raise ``DataError`` on the first bad record."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read file: {error}") from None
    molecules, cursor = [], 0
    while True:
        while cursor < len(lines) and not lines[cursor].strip():
            cursor += 1
        if cursor == len(lines):
            break
        molecule, cursor = _read_xyz_record(path, lines, cursor, record=len(molecules) + 1)
        molecules.append(molecule)
    if not molecules:
        raise DataError(path, "empty file: no XYZ records")
    return molecules


def _read_xyz_record(path: Path, lines: list[str], start: int, record: int) -> tuple[Molecule, int]:
    header = lines[start].strip()
    try:
        count = int(header)
    except ValueError:
        raise DataError(path, f"line {start + 1}: expected an atom count, got {header[:40]!r}", record) from None
    if count <= 0:
        raise DataError(path, f"line {start + 1}: atom count must be positive, got {count}", record)
    atom_lines = lines[start + 2: start + 2 + count]
    name = lines[start + 1].strip() if start + 1 < len(lines) else ""
    if len(atom_lines) < count or any(not line.strip() for line in atom_lines):
        found = sum(1 for line in atom_lines if line.strip())
        raise DataError(path, f"declares {count} atoms but only {found} atom lines follow", record)
    elements, positions = [], []
    for offset, line in enumerate(atom_lines):
        line_number = start + 3 + offset
        fields = line.split()
        if len(fields) < 4:
            raise DataError(path, f"line {line_number}: expected 'element x y z', got {line.strip()!r}", record)
        symbol = normalise_symbol(fields[0])
        if symbol is None:
            raise DataError(path, f"line {line_number}: unknown element {fields[0]!r}", record)
        try:
            xyz = [float(value) for value in fields[1:4]]
        except ValueError:
            raise DataError(path, f"line {line_number}: non-numeric coordinate in {line.strip()!r}", record) from None
        if not np.all(np.isfinite(xyz)):
            raise DataError(path, f"line {line_number}: coordinate is NaN or infinite", record)
        elements.append(symbol)
        positions.append(xyz)
    end = start + 2 + count
    if end < len(lines) and lines[end].strip() and _looks_like_atom_line(lines[end]):
        raise DataError(path, f"line {end + 1}: more atom lines than the declared count {count}", record)
    return Molecule(elements, np.array(positions), name=name), end


def _looks_like_atom_line(line: str) -> bool:
    fields = line.split()
    return len(fields) >= 4 and normalise_symbol(fields[0]) is not None


def write_xyz(molecules: Iterable[Molecule], path: str | Path) -> None:
    """Write molecules as a multi-molecule XYZ file (atomically). Bonds and charges are not stored."""
    with atomic_write(path) as handle:
        for molecule in molecules:
            handle.write(f"{molecule.num_atoms}\n{molecule.name}\n")
            for symbol, (x, y, z) in zip(molecule.elements, molecule.positions, strict=True):
                handle.write(f"{symbol:<2s} {x:14.8f} {y:14.8f} {z:14.8f}\n")


def read_sdf(path: str | Path) -> list[Molecule]:
    """Read every record of an SDF file without sanitising; raise ``DataError`` on unparsable records."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file")
    if path.stat().st_size == 0 or not path.read_bytes().strip():
        raise DataError(path, "empty file: no SDF records")
    RDLogger.DisableLog("rdApp.*")
    try:
        supplier = Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False, strictParsing=True)
        molecules = [_sdf_record(path, mol, record) for record, mol in enumerate(supplier, start=1)]
    finally:
        RDLogger.EnableLog("rdApp.*")
    if not molecules:
        raise DataError(path, "no SDF records found")
    return molecules


def _sdf_record(path: Path, mol: Chem.Mol | None, record: int) -> Molecule:
    if mol is None:
        raise DataError(path, "RDKit cannot parse this SDF record", record)
    name = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
    try:
        molecule = from_rdkit(mol, name=name)
    except ValueError as error:
        raise DataError(path, str(error), record) from None
    if molecule.num_atoms == 0:
        raise DataError(path, "record has no atoms", record)
    for index, symbol in enumerate(molecule.elements, start=1):
        if symbol not in ATOMIC_NUMBERS:
            raise DataError(path, f"atom {index} is a dummy or query atom ({symbol!r}), not an element", record)
    if not np.all(np.isfinite(molecule.positions)):
        raise DataError(path, "coordinate is NaN or infinite", record)
    return molecule


def write_sdf(molecules: Iterable[Molecule], path: str | Path, implicit_hydrogens: bool = False) -> None:
    """Write molecules (with bonds) as SDF, atomically; invalid chemistry is written as is (not kekulised)."""
    with atomic_write(path) as handle:
        for molecule in molecules:
            mol = to_rdkit(molecule, implicit_hydrogens=implicit_hydrogens)
            mol.UpdatePropertyCache(strict=False)
            handle.write(Chem.MolToMolBlock(mol, kekulize=False))
            for key, value in molecule.properties.items():
                handle.write(f">  <{key}>\n{value}\n\n")
            handle.write("$$$$\n")


def read_molecules(path: str | Path) -> list[Molecule]:
    """Read ``.xyz`` or ``.sdf`` (by suffix); anything else is a ``DataError``."""
    path = Path(path)
    readers = {".xyz": read_xyz, ".sdf": read_sdf}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DataError(path, f"unsupported file type {path.suffix!r}; expected .xyz or .sdf")
    return reader(path)
