"""Sequence data sets (real data shipped in PyPI packages, or any FASTA file) and their DataModule.

Sources (all read offline):

``ars``
    Yeast ARS1 mutant library from logomaker (``examples/datafiles/ars_sequences.txt.gz``; Liachko et al.
    2013, Genome Res. 23:698): 603,569 DNA sequences of 150 bp with a library count ``l`` and a selected
    count ``s``. The label is the log2 enrichment with pseudocount ``c`` (default 1)::

        label = log2((s + c) / (S + c n)) - log2((l + c) / (L + c n))

    with ``S``, ``L`` the total selected and library counts and ``n`` the number of sequences, i.e. the log
    ratio of a variant's frequency after selection to its frequency before (ARS activity).
``ww``
    Pfam WW-domain alignment (PF00397, RP15) from logomaker (``examples/datafiles/ww_sequences.fa``):
    4,025 aligned protein sequences of 44 columns. Gaps (``-`` and ``.``) are a token; insert-column lower
    case is upper-cased; the one ``X`` is kept as the unknown token. No label.
``amp``
    modlamp's ``data/AMPvsUniProt.csv``: 5,200 peptides of 7-174 residues, label 1 = antimicrobial peptide,
    0 = UniProt background. Variable length: padding token and mask.
``fasta``
    Any user FASTA file (``path``), read with :func:`domains.sequences.fasta.read_fasta`. A padding token is
    added when lengths differ.

Splits are seeded and nested: ``numpy.random.default_rng(seed).permutation(n)`` orders all n sequences; the
first ``floor(f_train n)`` of that order are train, the next ``floor(f_val n)`` validation, the rest test.
``max_sequences`` then keeps the first ``round(f * max_sequences)`` of each split, so the held-out set of a
small run is a subset of the held-out set of a full run, and no sequence ever changes sides.

A batch is ``(fields, context)``: ``fields = {"seq": LongTensor [B, L]}``, ``context = {"mask": BoolTensor
[B, L]}`` (True on real tokens) plus ``"label"`` ([B], float or long) when the source has labels and
``use_labels`` is set.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from domains.sequences.alphabets import Alphabet, get_alphabet
from domains.sequences.fasta import OnInvalid, read_fasta, records_from_strings, write_fasta
from sciddm.errors import ConfigError, DataError, choose
from sciddm.lightning.data import DiffusionDataModule


@dataclass(frozen=True)
class SequenceSet:
    """Encoded sequences: ``tokens`` [N, L] uint8, ``mask`` [N, L] bool, optional ``labels`` [N], ``ids``."""

    alphabet: Alphabet
    tokens: np.ndarray
    mask: np.ndarray
    ids: list[str]
    labels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, index: np.ndarray) -> SequenceSet:
        labels = None if self.labels is None else self.labels[index]
        return SequenceSet(
            self.alphabet, self.tokens[index], self.mask[index], [self.ids[i] for i in index], labels
        )

    def strings(self) -> list[str]:
        """The sequences as letters (padding dropped)."""
        return [self.alphabet.decode(t[m]) for t, m in zip(self.tokens, self.mask, strict=True)]

    def batch(self, index: list[int]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The ``(fields, context)`` batch of the given rows (also the DataLoader's collate function)."""
        fields = {"seq": torch.from_numpy(self.tokens[index].astype(np.int64))}
        context = {"mask": torch.from_numpy(self.mask[index])}
        if self.labels is not None:
            context["label"] = torch.from_numpy(self.labels[index])
        return fields, context


def encode_records(
    path: str | Path, ids: list[str], sequences: list[str], alphabet: Alphabet, length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise and encode sequences; a DataError names the first empty or invalid record."""
    normalised = [alphabet.normalise(s) for s in sequences]
    if all(normalised):
        try:
            return alphabet.encode_many(normalised, length)
        except ValueError:
            pass  # find the record to name below
    for name, sequence in zip(ids, normalised, strict=True):
        bad = alphabet.invalid_letters(sequence)
        if bad or not sequence:
            problem = f"letters {bad!r} are not in the {alphabet.name} alphabet" if bad else "empty sequence"
            raise DataError(path, problem, record=name)
    raise AssertionError("unreachable: encoding failed without an invalid record")


def encode_set(
    path: str | Path,
    ids: list[str],
    sequences: list[str],
    alphabet: Alphabet,
    labels: np.ndarray | None = None,
    length: int | None = None,
) -> SequenceSet:
    """A :class:`SequenceSet`; a padding token is added when not all sequences have length ``length``."""
    if not sequences:
        raise DataError(path, "no sequences")
    target = length or max(len(s) for s in sequences)
    too_long = next((name for name, s in zip(ids, sequences, strict=True) if len(s) > target), None)
    if too_long is not None:
        raise DataError(path, f"longer than the fixed length {target}", record=too_long)
    if any(len(s) != target for s in sequences):
        alphabet = dataclasses.replace(alphabet, pad=True)
    tokens, mask = encode_records(path, ids, sequences, alphabet, length)
    return SequenceSet(alphabet, tokens, mask, list(ids), labels)


def package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {package!r} is not installed; it ships the data file {relative}")
    return Path(spec.submodule_search_locations[0]) / relative


def load_ars(
    path: str | Path | None = None, pseudocount: float = 1.0, max_rows: int | None = None
) -> SequenceSet:
    """The ARS1 library with log2-enrichment labels (formula in the module docstring).

    ``max_rows`` reads only the first rows of the file (quick experiments); the totals ``S``, ``L`` and ``n``
    of the label are then those of the rows read.
    """
    path = Path(path) if path else package_file("logomaker", "examples/datafiles/ars_sequences.txt.gz")
    try:
        table = pd.read_csv(path, sep="\t", comment="#", dtype={"sequence": str}, nrows=max_rows)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise DataError(path, f"cannot read the ARS table ({error})") from None
    missing = {"library_ct", "selected_ct", "sequence"} - set(table.columns)
    if missing:
        raise DataError(path, f"missing columns {sorted(missing)}")
    library = table["library_ct"].to_numpy(np.float64)
    selected = table["selected_ct"].to_numpy(np.float64)
    n = len(table)
    labels = np.log2((selected + pseudocount) / (selected.sum() + pseudocount * n)) - np.log2(
        (library + pseudocount) / (library.sum() + pseudocount * n)
    )
    ids = [f"row{i + 1}" for i in range(n)]
    return encode_set(path, ids, table["sequence"].tolist(), get_alphabet("dna"), labels.astype(np.float32))


def load_ww(path: str | Path | None = None) -> SequenceSet:
    """The aligned WW-domain family (gap and unknown tokens, fixed length 44)."""
    path = Path(path) if path else package_file("logomaker", "examples/datafiles/ww_sequences.fa")
    alphabet = get_alphabet("protein", unknown=True, gap=True)
    records = read_fasta(path, alphabet)
    return encode_set(path, [r.id for r in records], [r.sequence for r in records], alphabet)


def load_amp(path: str | Path | None = None) -> SequenceSet:
    """modlamp's antimicrobial (label 1) versus UniProt (label 0) peptides, variable length."""
    path = Path(path) if path else package_file("modlamp", "data/AMPvsUniProt.csv")
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))[1:]  # the first row is a summary: count, features, class names
    bad = next(
        (i for i, row in enumerate(rows, start=2) if len(row) != 2 or row[1].strip() not in "01"), None
    )
    if bad is not None:
        raise DataError(path, "expected 'SEQUENCE, LABEL' with label 0 or 1", record=f"line {bad}")
    labels = np.array([int(row[1]) for row in rows], dtype=np.int64)
    ids = [f"line{i}" for i in range(2, len(rows) + 2)]
    return encode_set(path, ids, [row[0].strip() for row in rows], get_alphabet("protein"), labels)


def load_fasta(
    path: str | Path,
    kind: str = "dna",
    unknown: bool = False,
    gap: bool = False,
    on_invalid: OnInvalid = "error",
    length: int | None = None,
) -> SequenceSet:
    """Any FASTA file of ``kind`` ``"dna"`` or ``"protein"``; see :func:`read_fasta` for ``on_invalid``."""
    alphabet = get_alphabet(kind, unknown=unknown, gap=gap)
    records = read_fasta(path, alphabet, on_invalid=on_invalid)
    return encode_set(path, [r.id for r in records], [r.sequence for r in records], alphabet, length=length)


def split_indices(
    n: int,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_sequences: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test row indices (nested seeded split; see the module docstring)."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(fractions[0] * n), int(fractions[1] * n)
    splits = (order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    if max_sequences is None or max_sequences >= n:
        return splits
    return tuple(split[: round(f * max_sequences)] for split, f in zip(splits, fractions, strict=True))


_SOURCES = {"ars": load_ars, "ww": load_ww, "amp": load_amp}


def load_source(source: str, path: str | None = None, kind: str = "dna", on_invalid: OnInvalid = "error"):
    """Load a named source; ``fasta`` needs ``path`` and reads it as ``kind``."""
    if source == "fasta":
        if not path:
            raise ConfigError("source 'fasta' needs a path to a FASTA file")
        return load_fasta(path, kind=kind, on_invalid=on_invalid)
    return choose(source, _SOURCES, "sequence source")(path)


class SequenceDataModule(DiffusionDataModule):
    """Train/validation/test loaders of ``(fields, context)`` batches for one sequence source, plus what the core
    needs to sample, score, write (FASTA) and draw sequences.

    ``sample_template`` draws each sample's length (and label, with ``use_labels``) from a seeded random training
    sequence; padded positions hold the padding token. ``evaluate_samples`` returns the single-set metrics and
    the reference metrics of :mod:`domains.sequences.metrics` against the first ``reference_size`` validation
    sequences. A sampled padding token inside a sequence is written as the unknown letter (``N``/``X``, counted as
    invalid by validity), never dropped.
    """

    sample_suffix = ".fasta"

    def __init__(
        self,
        source: str = "ars",
        path: str | None = None,
        kind: str = "dna",
        on_invalid: str = "error",
        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
        max_sequences: int | None = 20000,
        seed: int = 0,
        batch_size: int = 64,
        use_labels: bool = False,
        num_workers: int = 0,
        reference_size: int = 2000,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        self.save_hyperparameters()
        self.splits: dict[str, SequenceSet] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        hp = self.hparams
        data = load_source(hp.source, hp.path, hp.kind, hp.on_invalid)
        if not hp.use_labels:
            data = dataclasses.replace(data, labels=None)
        names = ("train", "val", "test")
        indices = split_indices(len(data), tuple(hp.fractions), hp.seed, hp.max_sequences)
        self.splits = {name: data.subset(index) for name, index in zip(names, indices, strict=True)}

    @property
    def alphabet(self) -> Alphabet:
        self.setup()
        return self.splits["train"].alphabet

    def split_loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        data = self.splits[split]
        generator = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(
            range(len(data)),
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            generator=generator,
            collate_fn=data.batch,
            num_workers=self.hparams.num_workers,
        )

    # ------------------------------------------------------------------ sampling, scoring, writing
    def sample_template(self, num_samples: int, generator: torch.Generator | None = None):
        self.setup()
        train = self.splits["train"]
        device = generator.device if generator is not None else None
        rows = torch.randint(len(train), (num_samples,), generator=generator, device=device).cpu().numpy()
        fields, context = train.batch(rows)
        pad = self.alphabet.pad_index
        fields["seq"] = torch.where(context["mask"], 0, pad if pad is not None else 0)
        return fields, context

    def sample_strings(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]) -> list[str]:
        """The sampled sequences as letters (real positions only; a padding token inside is written as the
        unknown letter, so that the sequence keeps its length and counts as invalid)."""
        table = np.array(list(self.alphabet.letters) + [self.alphabet.unknown_letter])
        tokens, mask = samples["seq"].cpu().numpy(), context["mask"].cpu().numpy()
        return ["".join(table[row[keep]]) for row, keep in zip(tokens, mask, strict=True)]

    def reference_strings(self, split: str = "val") -> list[str]:
        self.setup()
        return self.splits[split].subset(np.arange(min(self.hparams.reference_size, len(self.splits[split])))
                                         ).strings()

    def evaluate_samples(self, samples, context) -> dict[str, float]:
        from domains.sequences.metrics import reference_metrics, sequence_metrics

        strings = self.sample_strings(samples, context)
        alphabet = get_alphabet(self.alphabet.name)
        allow_gaps = self.alphabet.gap
        reference = self.reference_strings()
        return {**sequence_metrics(strings, alphabet, allow_gaps),
                **reference_metrics(strings, reference, alphabet, allow_gaps)}

    def write_samples(self, samples, context, path: Path) -> Path:
        strings = self.sample_strings(samples, context)
        write_fasta(path, records_from_strings(strings, prefix="sample"))
        return Path(path)

    def render_samples(self, samples, context, path: Path) -> Path:
        from domains.sequences.plots import plot_samples

        plot_samples(self.sample_strings(samples, context), self.reference_strings(), self.alphabet, path)
        return Path(path)
