"""Alphabets, tokenization and FASTA reading/writing, including every bad-input path."""

import gzip

import numpy as np
import pytest

from domains.sequences.alphabets import get_alphabet
from domains.sequences.fasta import InvalidRecordsWarning, read_fasta, records_from_strings, write_fasta
from sciddm.errors import ConfigError, DataError


def test_token_layout_keeps_residue_indices_fixed():
    plain = get_alphabet("dna")
    full = get_alphabet("dna", unknown=True, gap=True, pad=True)
    assert plain.letters == "ACGT" and plain.size == 4
    assert full.letters == "ACGTN-" and full.size == 7
    assert (full.unknown_index, full.gap_index, full.pad_index) == (4, 5, 6)
    assert get_alphabet("protein").size == 20
    assert list(full.encode("GATTACA")) == list(plain.encode("GATTACA")) == [2, 0, 3, 3, 0, 1, 0]


def test_normalise_lowercase_dots_and_ambiguity_codes():
    dna, protein = get_alphabet("dna"), get_alphabet("protein")
    assert dna.normalise("acgtRYn.-") == "ACGTNNN--"
    assert protein.normalise("wB.z-u") == "WX-X-X"


def test_invalid_letters_depend_on_optional_tokens():
    assert get_alphabet("dna").invalid_letters("ACNN-T") == "N-"
    assert get_alphabet("dna", unknown=True).invalid_letters("ACNN-T") == "-"
    assert get_alphabet("dna", unknown=True, gap=True).invalid_letters("ACNN-T") == ""


def test_encode_many_pads_and_decode_round_trips():
    alphabet = get_alphabet("dna", pad=True)
    tokens, mask = alphabet.encode_many(["ACG", "T", "GGTA"])
    assert tokens.tolist() == [[0, 1, 2, 4], [3, 4, 4, 4], [2, 2, 3, 0]]
    assert mask.sum(axis=1).tolist() == [3, 1, 4]
    assert [alphabet.decode(t) for t in tokens] == ["ACG", "T", "GGTA"]


def test_encode_many_rejects_ragged_input_without_pad_and_overlong_input():
    with pytest.raises(ConfigError, match="padding token"):
        get_alphabet("dna").encode_many(["ACG", "A"])
    with pytest.raises(ConfigError, match="does not fit"):
        get_alphabet("dna", pad=True).encode_many(["ACGT"], length=3)


def test_unknown_alphabet_names_choices():
    with pytest.raises(ConfigError, match="dna, protein"):
        get_alphabet("rna")


def write(tmp_path, text, name="x.fa"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_read_fasta_multiline_comments_and_gzip(tmp_path):
    text = "# a comment block\n;another\n>s1 first one\nACGT\nac\n\n>s2\nGG TT\n"
    expected = [("s1", "s1 first one", "ACGTAC"), ("s2", "s2", "GGTT")]
    for path in (write(tmp_path, text), write(tmp_path, gzip.compress(text.encode()), "x.fa.gz")):
        records = read_fasta(path, get_alphabet("dna"))
        assert [(r.id, r.description, r.sequence) for r in records] == expected


def test_write_then_read_round_trip_is_atomic(tmp_path):
    records = records_from_strings(["ACGT" * 40, "GATTACA"], prefix="sample")
    path = tmp_path / "out" / "samples.fasta"
    write_fasta(path, records, line_width=60)
    lines = path.read_text().splitlines()
    assert lines[0] == ">sample_0" and len(lines[1]) == 60 and lines[3] == "ACGT" * 10
    assert read_fasta(path, get_alphabet("dna")) == records
    assert [p.name for p in path.parent.iterdir()] == ["samples.fasta"]  # no temporary left behind


@pytest.mark.parametrize(
    ("text", "record", "problem"),
    [
        (">ok\nACGT\n>bad1\nACGZ\n", "bad1", "letters 'Z' are not in the dna alphabet"),
        (">ok\nACGT\n>empty\n>next\nAC\n", "empty", "empty sequence"),
        (">\nACGU\n", "#1", "letters 'U'"),
    ],
)
def test_bad_records_name_file_and_record(tmp_path, text, record, problem):
    path = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        read_fasta(path, get_alphabet("dna"))
    message = str(info.value)
    assert message.startswith(f"{path}, record {record}: ") and problem in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"ACGT\nACGT\n", "missing FASTA header"),
        (b"# only a comment\n\n", "no FASTA records"),
        (b"", "no FASTA records"),
        (bytes(range(256)) * 4, "binary content"),
        (b">s1\nAC\x00GT\n", "binary content"),
        (b"\x1f\x8b\x08\x00garbage", "corrupt gzip"),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, problem):
    path = write(tmp_path, content)
    with pytest.raises(DataError) as info:
        read_fasta(path, get_alphabet("dna"))
    assert str(info.value).startswith(f"{path}: ") and problem in str(info.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot read file"):
        read_fasta(tmp_path / "absent.fa")


def test_skip_and_replace_are_explicit_and_reported(tmp_path):
    path = write(tmp_path, ">a\nACGT\n>b\nACNNT\n>c\n>d\nAXT\n")
    with pytest.warns(InvalidRecordsWarning, match="skipped 3 invalid record"):
        assert [r.id for r in read_fasta(path, get_alphabet("dna"), on_invalid="skip")] == ["a"]
    alphabet = get_alphabet("dna", unknown=True)
    with pytest.warns(InvalidRecordsWarning) as caught:
        records = read_fasta(path, alphabet, on_invalid="replace")
    assert [(r.id, r.sequence) for r in records] == [("a", "ACGT"), ("b", "ACNNT"), ("d", "ANT")]
    messages = sorted(str(w.message) for w in caught)
    assert "skipped 1 invalid record(s), first 'c'" in messages[1]
    assert "replaced by 'N' in 1 invalid record(s), first 'd'" in messages[0]
    with pytest.warns(InvalidRecordsWarning):
        records = read_fasta(path, get_alphabet("dna"), on_invalid="replace", replacement="a")
    assert [r.sequence for r in records] == ["ACGT", "ACAAT", "AAT"]


def test_replace_needs_a_replacement_with_a_token(tmp_path):
    path = write(tmp_path, ">a\nACGT\n")
    with pytest.raises(ConfigError, match="use unknown=True"):
        read_fasta(path, get_alphabet("dna"), on_invalid="replace")
    with pytest.raises(ConfigError, match="on_invalid must be one of"):
        read_fasta(path, get_alphabet("dna"), on_invalid="ignore")


def test_all_records_skipped_is_an_error(tmp_path):
    path = write(tmp_path, ">a\nZZZ\n")
    with pytest.raises(DataError, match="no usable FASTA records"), pytest.warns(InvalidRecordsWarning):
        read_fasta(path, get_alphabet("dna"), on_invalid="skip")


def test_without_alphabet_sequences_are_kept_as_written(tmp_path):
    path = write(tmp_path, ">a\nacgZ\n")
    assert read_fasta(path)[0].sequence == "acgZ"
    assert np.array_equal(get_alphabet("dna").encode("ACGT"), np.arange(4))
