"""A compact, tensor-backed set of molecules: flat atom and bond arrays with per-molecule offsets.

This is what is cached on disk and what datasets index into; it avoids keeping 130k Python objects alive.
Atom types are indices into ``vocabulary.elements``, charges are *formal charges* (not class indices);
bond rows are ``(i, j, type)`` with molecule-local atom indices, ``i < j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from domains.molecules.elements import Vocabulary
from domains.molecules.molecule import Molecule
from sciddm.io import atomic_path


@dataclass
class MoleculeTable:
    vocabulary: Vocabulary
    atom_types: torch.Tensor  # [A] long
    charges: torch.Tensor  # [A] long, formal charges
    positions: torch.Tensor  # [A, 3] float32, Angstrom
    atom_ptr: torch.Tensor  # [M + 1] long
    bonds: torch.Tensor  # [E, 3] long
    bond_ptr: torch.Tensor  # [M + 1] long
    properties: torch.Tensor  # [M, P] float64
    property_names: tuple[str, ...] = ()
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.atom_ptr) - 1

    @property
    def num_atoms(self) -> torch.Tensor:
        return self.atom_ptr[1:] - self.atom_ptr[:-1]

    def atoms(self, index: int) -> slice:
        return slice(int(self.atom_ptr[index]), int(self.atom_ptr[index + 1]))

    def bond_rows(self, index: int) -> torch.Tensor:
        return self.bonds[int(self.bond_ptr[index]): int(self.bond_ptr[index + 1])]

    def molecule(self, index: int) -> Molecule:
        atoms = self.atoms(index)
        elements = [self.vocabulary.elements[t] for t in self.atom_types[atoms].tolist()]
        properties = dict(zip(self.property_names, self.properties[index].tolist(), strict=True))
        return Molecule(elements, self.positions[atoms].double().numpy(), self.charges[atoms].numpy(),
                        self.bond_rows(index).numpy(), self.names[index], properties)

    def subset(self, indices: torch.Tensor | np.ndarray | list[int]) -> MoleculeTable:
        """The molecules at ``indices``, in that order."""
        return MoleculeTable.from_molecules([self.molecule(int(i)) for i in indices], self.vocabulary,
                                            self.property_names)

    @classmethod
    def from_molecules(cls, molecules: list[Molecule], vocabulary: Vocabulary,
                       property_names: tuple[str, ...] = ()) -> MoleculeTable:
        """Pack molecules; every element must be in the vocabulary and every molecule must have bonds."""
        lookup = {e: i for i, e in enumerate(vocabulary.elements)}
        atom_counts = [m.num_atoms for m in molecules]
        bond_counts = [0 if m.bonds is None else len(m.bonds) for m in molecules]
        return cls(
            vocabulary=vocabulary,
            atom_types=torch.tensor([lookup[e] for m in molecules for e in m.elements], dtype=torch.long),
            charges=torch.tensor(np.concatenate([m.charges for m in molecules]) if molecules else [],
                                 dtype=torch.long),
            positions=torch.tensor(np.concatenate([m.positions for m in molecules]) if molecules
                                   else np.zeros((0, 3)), dtype=torch.float32),
            atom_ptr=torch.tensor(np.concatenate([[0], np.cumsum(atom_counts)]), dtype=torch.long),
            bonds=torch.tensor(np.concatenate([m.bonds for m in molecules if m.bonds is not None]
                                              + [np.zeros((0, 3), dtype=np.int64)]), dtype=torch.long),
            bond_ptr=torch.tensor(np.concatenate([[0], np.cumsum(bond_counts)]), dtype=torch.long),
            properties=torch.tensor([[m.properties.get(p, float("nan")) for p in property_names]
                                     for m in molecules], dtype=torch.float64).reshape(len(molecules), -1),
            property_names=tuple(property_names),
            names=[m.name for m in molecules],
        )

    def save(self, path: str | Path) -> None:
        """Save atomically as a ``torch.save`` file of plain tensors, strings and numbers."""
        payload = {key: getattr(self, key) for key in
                   ("atom_types", "charges", "positions", "atom_ptr", "bonds", "bond_ptr", "properties")}
        payload.update(elements=list(self.vocabulary.elements), charge_values=list(self.vocabulary.charges),
                       property_names=list(self.property_names), names=list(self.names))
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path: str | Path) -> MoleculeTable:
        payload = torch.load(path, weights_only=True)
        vocabulary = Vocabulary(tuple(payload.pop("elements")), tuple(payload.pop("charge_values")))
        payload["property_names"] = tuple(payload["property_names"])
        return cls(vocabulary=vocabulary, **payload)
