"""Real data sets with known contents, the label formula, seeded splits, the DataModule and bad input."""

import numpy as np
import pytest
import torch

from domains.sequences.data import (
    SequenceDataModule,
    load_amp,
    load_ars,
    load_fasta,
    load_source,
    load_ww,
    package_file,
    split_indices,
)
from sciddm.errors import ConfigError, DataError

COMPLEMENT = str.maketrans("ACGT", "TGCA")


def ars_consensus(data) -> str:
    counts = np.stack([np.bincount(column, minlength=4) for column in data.tokens.T])
    return data.alphabet.decode(counts.argmax(axis=1))


def ars_wild_type_reverse_complement() -> str:
    text = package_file("logomaker", "examples/datafiles/ars_wt_sequence.txt").read_text()
    wild_type = next(line for line in text.splitlines() if line and not line.startswith("#")).strip()
    return wild_type.translate(COMPLEMENT)[::-1]


def test_ars_library_is_a_mutant_library_of_the_wild_type():
    # the library is read on the opposite strand: its per-position consensus is the reverse complement
    data = load_ars(max_rows=5000)
    assert data.tokens.shape == (5000, 150) and data.mask.all() and data.alphabet.size == 4
    assert ars_consensus(data) == ars_wild_type_reverse_complement()


@pytest.mark.slow
def test_full_ars_library():
    data = load_ars()
    assert data.tokens.shape == (603569, 150) and np.isfinite(data.labels).all()
    assert ars_consensus(data) == ars_wild_type_reverse_complement()


def test_ars_label_is_log2_enrichment(tmp_path):
    path = tmp_path / "ars.txt"
    path.write_text("# comment\nlibrary_ct\tselected_ct\tsequence\n3\t0\tACGT\n0\t5\tTTTT\n1\t1\tGGCC\n")
    data = load_ars(path, pseudocount=1.0)
    # totals: L = 4, S = 6, n = 3 -> frequencies with pseudocount 1 over (L + 3) and (S + 3)
    expected = np.log2(np.array([1, 6, 2]) / 9) - np.log2(np.array([4, 1, 2]) / 7)
    assert np.allclose(data.labels, expected)
    assert data.strings() == ["ACGT", "TTTT", "GGCC"] and data.ids == ["row1", "row2", "row3"]


def test_ww_alignment_keeps_gaps_and_unknown():
    data = load_ww()
    assert data.tokens.shape == (4025, 44) and data.alphabet.letters.endswith("X-")
    assert data.strings()[0] == "LPPQW--TEA-VDVDT---GKFYFVHVET-------KETRWERP"
    assert (data.tokens == data.alphabet.unknown_index).sum() == 1
    assert not data.alphabet.pad and data.ids[0] == "B7G9D5/250-280"


def test_amp_peptides_are_balanced_and_padded():
    data = load_amp()
    lengths = data.mask.sum(axis=1)
    assert len(data) == 5200 and np.bincount(data.labels).tolist() == [2600, 2600]
    assert (lengths.min(), lengths.max()) == (7, 174) and data.alphabet.pad
    assert data.strings()[0] == "GLWSKIKEVGKEAAKAAAKAAGKAALGAVSEAV"
    assert (data.tokens[~data.mask] == data.alphabet.pad_index).all()


def test_splits_are_disjoint_seeded_and_nested():
    train, val, test = split_indices(1000, (0.8, 0.1, 0.1), seed=3)
    assert (len(train), len(val), len(test)) == (800, 100, 100)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(1000))
    small = split_indices(1000, (0.8, 0.1, 0.1), seed=3, max_sequences=100)
    assert [len(s) for s in small] == [80, 10, 10]
    assert all(set(s) <= set(full) for s, full in zip(small, (train, val, test), strict=True))
    assert np.array_equal(split_indices(1000, seed=3)[2], test)
    assert not np.array_equal(split_indices(1000, seed=4)[2], test)
    with pytest.raises(ConfigError, match="summing to 1"):
        split_indices(10, (0.5, 0.5, 0.5))


def test_datamodule_batches_a_user_fasta(tmp_path):
    path = tmp_path / "user.fa"
    path.write_text("".join(f">s{i}\n{'ACGT'[i % 4] * (1 + i % 3)}\n" for i in range(10)))
    module = SequenceDataModule(
        source="fasta", path=str(path), fractions=(1.0, 0.0, 0.0), batch_size=4, seed=1
    )
    batches = list(module.train_dataloader())
    fields, context = batches[0]
    assert (
        fields["seq"].dtype == torch.long and context["mask"].dtype == torch.bool and "label" not in context
    )
    seen = sorted(
        module.alphabet.decode(s[m].numpy())
        for f, c in batches
        for s, m in zip(f["seq"], c["mask"], strict=True)
    )
    assert seen == sorted("ACGT"[i % 4] * (1 + i % 3) for i in range(10))
    assert (fields["seq"][~context["mask"]] == module.alphabet.pad_index).all()


def test_datamodule_labels_follow_their_sequences():
    module = SequenceDataModule(source="amp", use_labels=True, max_sequences=200, batch_size=50)
    fields, context = next(iter(module.val_dataloader()))
    amp = load_amp()
    by_sequence = dict(zip(amp.strings(), amp.labels, strict=True))
    for seq, mask, label in zip(fields["seq"], context["mask"], context["label"], strict=True):
        assert by_sequence[module.alphabet.decode(seq[mask].numpy())] == label


def test_bad_ars_tables_name_file_and_record(tmp_path):
    missing = tmp_path / "missing.txt"
    missing.write_text("library_ct\tsequence\n1\tACGT\n")
    with pytest.raises(DataError, match=r"missing\.txt: missing columns \['selected_ct'\]"):
        load_ars(missing)
    bad = tmp_path / "bad.txt"
    bad.write_text("library_ct\tselected_ct\tsequence\n1\t1\tACGT\n1\t1\tACXT\n")
    with pytest.raises(DataError, match=r"bad\.txt, record row2: letters 'X'"):
        load_ars(bad)


def test_bad_amp_line_is_named(tmp_path):
    path = tmp_path / "amp.csv"
    path.write_text("2,1,UniProt,AMP\nGLWSK, 1\nGLWSK, maybe\n")
    with pytest.raises(DataError, match=r"amp\.csv, record line 3: expected 'SEQUENCE, LABEL'"):
        load_amp(path)


def test_fixed_length_and_source_errors(tmp_path):
    path = tmp_path / "long.fa"
    path.write_text(">short\nACG\n>long\nACGTA\n")
    with pytest.raises(DataError, match=r"long\.fa, record long: longer than the fixed length 4"):
        load_fasta(path, length=4)
    assert load_fasta(path, length=6).tokens.shape == (2, 6)
    with pytest.raises(ConfigError, match="needs a path"):
        load_source("fasta")
    with pytest.raises(ConfigError, match="amp, ars, ww"):
        load_source("enhancers")
