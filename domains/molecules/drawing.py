"""A PNG grid of 2D depictions (RDKit Draw) captioned with canonical SMILES; an invalid molecule is drawn
as a lone dummy atom ``*`` captioned "invalid" (RDKit skips the caption of an empty cell)."""

from __future__ import annotations

from pathlib import Path

from rdkit import Chem
from rdkit.Chem import Draw
from rdkit.Chem.rdDepictor import Compute2DCoords

from domains.molecules.validity import canonical_smiles
from sciddm.io import atomic_path


def draw_grid(mols: list[Chem.Mol | None], path: str | Path, per_row: int = 5,
              cell_size: tuple[int, int] = (250, 200)) -> None:
    """Write the grid to ``path`` atomically; hydrogens are hidden for readability."""
    pictures, captions = [], []
    for mol in mols:
        if mol is None:
            pictures.append(Chem.MolFromSmiles("*"))
            captions.append("invalid")
            continue
        flat = Chem.RemoveHs(mol)
        Compute2DCoords(flat)
        pictures.append(flat)
        captions.append(canonical_smiles(mol))
    image = Draw.MolsToGridImage(pictures, molsPerRow=per_row, subImgSize=cell_size, legends=captions,
                                 returnPNG=False)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
