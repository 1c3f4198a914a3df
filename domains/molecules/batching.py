"""Molecules as torch-geometric ``Data`` and as dense, padded ``(fields, context)`` batches.

A batch (the DataLoader's output and the sampler's input/output) is a pair ``(fields, context)``::

    fields  = {"pos": float [B, N, 3] (Angstrom, zero mean over real atoms),
               "atom_types": long [B, N], "charges": long [B, N],  (class indices into the Vocabulary)
               "bonds": long [B, N, N]}                            (symmetric codes 0..4, zero diagonal)
    context = {"node_mask": bool [B, N], "<property>": float [B] for every property}

Padding entries are 0 (``pos`` 0, class 0) and must be ignored through ``node_mask``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

from domains.molecules.elements import Vocabulary
from domains.molecules.molecule import Molecule, bonds_from_matrix
from domains.molecules.table import MoleculeTable

Fields = dict[str, torch.Tensor]


def molecule_graph(table: MoleculeTable, index: int, center: bool = True) -> Data:
    """One molecule of ``table`` as a ``Data`` graph with both directions of every bond as edges."""
    atoms = table.atoms(index)
    pos = table.positions[atoms]
    if center:
        pos = pos - pos.mean(dim=0, keepdim=True)
    charge_classes = {q: c for c, q in enumerate(table.vocabulary.charges)}
    rows = table.bond_rows(index)
    edge_index = torch.cat([rows[:, :2].T, rows[:, [1, 0]].T], dim=1)
    return Data(pos=pos, atom_types=table.atom_types[atoms],
                charges=torch.tensor([charge_classes[int(q)] for q in table.charges[atoms]], dtype=torch.long),
                edge_index=edge_index, edge_attr=torch.cat([rows[:, 2], rows[:, 2]]),
                y=table.properties[index].float().unsqueeze(0), num_nodes=pos.shape[0])


def dense_batch(graphs: list[Data], property_names: tuple[str, ...] = ()) -> tuple[Fields, Fields]:
    """Collate graphs into the padded ``(fields, context)`` pair described in the module docstring."""
    batch = Batch.from_data_list(graphs)
    pos, node_mask = to_dense_batch(batch.pos, batch.batch)
    atom_types, _ = to_dense_batch(batch.atom_types, batch.batch)
    charges, _ = to_dense_batch(batch.charges, batch.batch)
    bonds = to_dense_adj(batch.edge_index, batch.batch, edge_attr=batch.edge_attr,
                         max_num_nodes=node_mask.shape[1], batch_size=len(graphs)).long()
    fields = {"pos": pos, "atom_types": atom_types, "charges": charges, "bonds": bonds}
    context = {"node_mask": node_mask}
    context.update({name: batch.y[:, k] for k, name in enumerate(property_names)})
    return fields, context


def batch_to_molecules(fields: Fields, context: Fields, vocabulary: Vocabulary) -> list[Molecule]:
    """Decode a batch of class indices (e.g. a sampler's output) into :class:`Molecule` records.

    Bonds are read from the upper triangle (i < j) of ``fields["bonds"]``, so an asymmetric sample is not
    ambiguous.
    """
    molecules = []
    for b, mask in enumerate(context["node_mask"].cpu()):
        real = mask.nonzero().squeeze(1)
        matrix = fields["bonds"][b].cpu()[real][:, real].numpy()
        molecules.append(Molecule(
            elements=[vocabulary.elements[t] for t in fields["atom_types"][b].cpu()[real].tolist()],
            positions=fields["pos"][b].detach().cpu()[real].double().numpy(),
            charges=np.array([vocabulary.charges[c] for c in fields["charges"][b].cpu()[real].tolist()]),
            bonds=bonds_from_matrix(matrix),
        ))
    return molecules
