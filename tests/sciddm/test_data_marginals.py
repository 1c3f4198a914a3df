"""``marginal: data``: the module counts class frequencies on the training set, stores and restores them."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import TensorDataset

from sciddm.categorical_fields import CategoricalField
from sciddm.checkpoints import load_weights
from sciddm.errors import ConfigError
from sciddm.lightning import DiffusionDataModule, DiffusionModule

NODES, TOKEN_CLASSES, EDGE_CLASSES = 4, 3, 2


def padded_data(size: int = 24) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    counts = torch.randint(2, NODES + 1, (size,), generator=generator)
    node_mask = torch.arange(NODES) < counts[:, None]
    tokens = torch.randint(0, TOKEN_CLASSES, (size, NODES), generator=generator)
    upper = torch.randint(0, EDGE_CLASSES, (size, NODES, NODES), generator=generator).triu(1)
    return {"tokens": tokens, "edges": upper + upper.transpose(1, 2), "node_mask": node_mask}


def brute_force_frequencies(data: dict[str, torch.Tensor]) -> tuple[list[float], list[float]]:
    """Tokens at real nodes; edge classes over unordered pairs of distinct real nodes; counted one by one."""
    tokens, edges = [0.0] * TOKEN_CLASSES, [0.0] * EDGE_CLASSES
    for b in range(len(data["tokens"])):
        real = [i for i in range(NODES) if data["node_mask"][b, i]]
        for i in real:
            tokens[int(data["tokens"][b, i])] += 1
            for j in real:
                if i < j:
                    edges[int(data["edges"][b, i, j])] += 1
    return [c / sum(tokens) for c in tokens], [c / sum(edges) for c in edges]


class PaddedGraphs(DiffusionDataModule):
    def __init__(self):
        super().__init__(batch_size=5)
        self.data = padded_data()

    def split_loader(self, split: str, shuffle: bool):
        keys = list(self.data)

        def collate(rows):
            columns = zip(*rows, strict=True)
            return {key: torch.stack(column) for key, column in zip(keys, columns, strict=True)}

        return self._loader(TensorDataset(*(self.data[k] for k in keys)), shuffle, collate)

    def sample_template(self, num_samples, generator=None):
        raise NotImplementedError

    def write_samples(self, samples, context, path):
        raise NotImplementedError


class ConstantLogits(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_logits = nn.Parameter(torch.zeros(TOKEN_CLASSES))
        self.edge_logits = nn.Parameter(torch.zeros(EDGE_CLASSES))

    def forward(self, x_t, t, context):
        shape = x_t["edges"].shape[:3]
        return {"tokens": self.token_logits.expand(*x_t["tokens"].shape[:2], -1),
                "edges": self.edge_logits.expand(*shape, -1)}


def make_module() -> DiffusionModule:
    fields = {"tokens": CategoricalField(TOKEN_CLASSES, "marginal", marginal="data", mask_key="node_mask"),
              "edges": CategoricalField(EDGE_CLASSES, "marginal", marginal="data", symmetric=True,
                                        mask_key="node_mask")}
    return DiffusionModule(ConstantLogits(), fields, ema_decay=None)


def test_fit_counts_the_marginals_and_a_checkpoint_restores_them(tmp_path: Path):
    module = make_module()
    with pytest.raises(ConfigError, match="marginal: data"):
        module.fields["tokens"].path  # noqa: B018  (not counted yet)
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    datamodule = PaddedGraphs()
    trainer.fit(module, datamodule)
    tokens, edges = brute_force_frequencies(datamodule.data)
    torch.testing.assert_close(module.fields["tokens"].path.pi, torch.tensor(tokens, dtype=torch.float64))
    torch.testing.assert_close(module.fields["edges"].path.pi, torch.tensor(edges, dtype=torch.float64))

    trainer.save_checkpoint(tmp_path / "model.ckpt")
    restored = make_module()
    load_weights(restored, tmp_path / "model.ckpt")
    torch.testing.assert_close(restored.fields["edges"].path.pi, torch.tensor(edges, dtype=torch.float64))
    torch.testing.assert_close(restored.fields["tokens"].path.pi, torch.tensor(tokens, dtype=torch.float64))


@pytest.mark.parametrize(("prior", "marginal", "message"), [
    ("marginal", "counts", "only word accepted is 'data'"),
    ("mask", "data", "with prior='marginal'"),
])
def test_bad_data_marginal_settings(prior, marginal, message):
    with pytest.raises(ConfigError, match=message):
        CategoricalField(3, prior, marginal=marginal)
