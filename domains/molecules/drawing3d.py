"""A PNG grid of 3D ball-and-stick views (matplotlib) of molecules as generated: atoms at their coordinates,
coloured by element (CPK-like colours) and with areas proportional to the squared covalent radius (RDKit's
periodic table); bonds as sticks, doubled or tripled for
bond orders 2 and 3 and dashed for aromatic bonds. Molecules without bonds (XYZ) get the inferred ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rdkit import Chem

from domains.molecules.bond_inference import infer_bonds
from domains.molecules.elements import AROMATIC
from domains.molecules.molecule import Molecule
from sciddm.plotting import plt, save_figure

ELEMENT_COLOURS = {"H": "#d9d9d9", "B": "#ffb5b5", "C": "#404040", "N": "#3050f8", "O": "#ff0d0d", "F": "#90e050",
                   "Al": "#bfa6a6", "Si": "#f0c8a0", "P": "#ff8000", "S": "#e6c200", "Cl": "#1ff01f",
                   "As": "#bd80e3", "Br": "#a62929", "I": "#940094"}
OTHER_COLOUR = "#ff1493"
PERIODIC_TABLE = Chem.GetPeriodicTable()


def bond_sticks(molecule: Molecule) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(start, end, bond code) of each bond of ``molecule`` (inferred from distances if it has none)."""
    bonds = molecule.bonds if molecule.bonds is not None else infer_bonds(molecule).bonds
    return [(molecule.positions[i], molecule.positions[j], int(code)) for i, j, code in bonds if code > 0]


def draw_molecule_3d(ax, molecule: Molecule, title: str = "") -> None:
    """One ball-and-stick view on a 3D axis with equal scales on x, y and z."""
    for start, end, code in bond_sticks(molecule):
        segment = np.stack([start, end])
        order = 1 if code == AROMATIC else code
        ax.plot(*segment.T, color="#777777", linewidth=1.2 * order, linestyle="--" if code == AROMATIC else "-")
    ax.scatter(*molecule.positions.T, c=[ELEMENT_COLOURS.get(e, OTHER_COLOUR) for e in molecule.elements],
               s=[300 * PERIODIC_TABLE.GetRcovalent(e) ** 2 for e in molecule.elements], edgecolors="black",
               linewidths=0.4, depthshade=False)
    centre = molecule.positions.mean(axis=0) if molecule.num_atoms else np.zeros(3)
    half = max(np.abs(molecule.positions - centre).max(initial=0.0), 1.0)
    ax.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
           zlim=(centre[2] - half, centre[2] + half))
    ax.set_box_aspect((1, 1, 1), zoom=1.3)
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)


def draw_grid_3d(molecules: list[Molecule], path: str | Path, titles: list[str] | None = None,
                 per_row: int = 5, cell_inches: float = 2.5, dpi: int = 100) -> Path:
    """Write the 3D views of ``molecules`` as one PNG grid (``per_row`` columns) to ``path`` atomically."""
    rows = max(1, -(-len(molecules) // per_row))
    fig = plt.figure(figsize=(per_row * cell_inches, rows * cell_inches))
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.9, wspace=0, hspace=0.15)
    for k, molecule in enumerate(molecules):
        draw_molecule_3d(fig.add_subplot(rows, per_row, k + 1, projection="3d"), molecule,
                         titles[k] if titles else "")
    return save_figure(fig, path, dpi=dpi)
