"""NELBO of the sequences of a FASTA file under a trained sequence diffusion model (bits per token).

The model is rebuilt from its training config and checkpoint (:func:`sciddm.checkpoints.load_model`); its
datamodule supplies the alphabet and the sequence length the model was trained on. Sequences are read with that
alphabet (letters without a token are an error naming the record unless ``on_invalid`` says ``skip`` or
``replace``), must have the trained length (or fit it, when the alphabet has a padding token), and are scored
with :func:`sciddm.likelihood.nelbo_bits_per_token` (an upper bound of the model's negative log-likelihood per
token, Monte Carlo over ``num_times`` antithetic times, seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from domains.sequences.fasta import OnInvalid, read_fasta
from sciddm.errors import ConfigError, DataError
from sciddm.likelihood import nelbo_bits_per_token


def nelbo_of_file(path: str | Path, config: str | Path, checkpoint: str | Path, num_times: int = 16, seed: int = 0,
                  on_invalid: OnInvalid = "error", batch_size: int = 256) -> np.ndarray:
    """Per-sequence NELBO in bits per token [N] of the FASTA file ``path`` under the model."""
    from domains.sequences.data import SequenceDataModule
    from sciddm.checkpoints import load_model

    module, datamodule, _ = load_model(config, checkpoint)
    if not isinstance(datamodule, SequenceDataModule):
        raise ConfigError(f"{config}: the config's data is {type(datamodule).__name__}, not a SequenceDataModule")
    alphabet = datamodule.alphabet
    length = datamodule.splits["train"].tokens.shape[1]
    records = read_fasta(path, alphabet, on_invalid=on_invalid)
    for record in records:
        if len(record.sequence) > length or (alphabet.pad_index is None and len(record.sequence) != length):
            need = f"at most {length}" if alphabet.pad_index is not None else f"exactly {length}"
            raise DataError(path, f"length {len(record.sequence)}, but the model takes {need} letters",
                            record=record.id)
    tokens, mask = alphabet.encode_many([r.sequence for r in records], length)
    generator = torch.Generator().manual_seed(seed)
    scores = []
    for start in range(0, len(records), batch_size):
        rows = slice(start, start + batch_size)
        batch = ({"seq": torch.from_numpy(tokens[rows].astype(np.int64))}, {"mask": torch.from_numpy(mask[rows])})
        scores.append(nelbo_bits_per_token(module, batch, num_times, generator))
    return torch.cat(scores).numpy()
