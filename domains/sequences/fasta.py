"""FASTA reading and writing through Biopython, with explicit handling of invalid input.

Reading checks the whole file before any record is returned:

* the file must be text: gzip is unpacked (recognised by its magic bytes), then the bytes must decode as
  UTF-8 without NUL or other control characters, otherwise the file is rejected as binary;
* lines starting with ``#`` or ``;`` are comments (logomaker's data files start with such a block);
* the first other non-blank line must be a ``>`` header, otherwise the file has no header;
* each record must have a non-empty sequence and, when an alphabet is given, only letters that have a token.

File-level problems always raise :class:`~sciddm.errors.DataError`. For a bad *record* the caller chooses
with ``on_invalid``: ``"error"`` (default) raises a DataError naming the file and the record id,
``"skip"`` drops the record, ``"replace"`` substitutes a replacement letter for each invalid letter (records
that cannot be repaired, i.e. empty ones, are dropped). Dropping or replacing is never silent: an
:class:`InvalidRecordsWarning` states how many records were affected and names the first one.
"""

from __future__ import annotations

import gzip
import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

from domains.sequences.alphabets import Alphabet
from sciddm.errors import ConfigError, DataError
from sciddm.io import atomic_write

OnInvalid = Literal["error", "skip", "replace"]
ON_INVALID = ("error", "skip", "replace")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_GZIP_MAGIC = b"\x1f\x8b"


class InvalidRecordsWarning(UserWarning):
    """Some records were skipped or repaired because ``on_invalid`` asked for it."""


@dataclass(frozen=True)
class FastaRecord:
    """One sequence: its id (first word of the header), the full header text and the sequence letters."""

    id: str
    description: str
    sequence: str


def read_fasta(
    path: str | Path,
    alphabet: Alphabet | None = None,
    on_invalid: OnInvalid = "error",
    replacement: str | None = None,
) -> list[FastaRecord]:
    """Read every record of a FASTA file; see the module docstring for the checks and ``on_invalid``.

    With an ``alphabet`` the returned sequences are normalised (:meth:`Alphabet.normalise`) and every letter
    has a token; without one they are returned as written (whitespace removed). ``replacement`` is the letter
    used by ``on_invalid="replace"``; it defaults to the alphabet's unknown letter and must have a token.
    """
    path = Path(path)
    if on_invalid not in ON_INVALID:
        raise ConfigError(f"on_invalid must be one of {', '.join(ON_INVALID)}, got {on_invalid!r}")
    replacement = _checked_replacement(alphabet, on_invalid, replacement)
    records, skipped, replaced = [], [], []
    for number, record in enumerate(SeqIO.parse(io.StringIO(_fasta_text(path)), "fasta"), start=1):
        name = record.id or f"#{number}"
        sequence = str(record.seq)
        problem, bad = _problem(sequence, alphabet)
        if alphabet is not None:
            sequence = alphabet.normalise(sequence)
        if problem is not None:
            if on_invalid == "error":
                raise DataError(path, problem, record=name)
            if on_invalid == "skip" or not sequence:
                skipped.append(name)
                continue
            sequence = sequence.translate(str.maketrans(bad, replacement * len(bad)))
            replaced.append(name)
        records.append(FastaRecord(record.id, record.description, sequence))
    _warn(path, "skipped", skipped)
    _warn(path, f"had invalid letters replaced by {replacement!r} in", replaced)
    if not records:
        raise DataError(path, "no usable FASTA records")
    return records


def write_fasta(path: str | Path, records: Iterable[FastaRecord], line_width: int = 60) -> None:
    """Write records atomically with Biopython (``line_width`` letters per line)."""
    seq_records = (SeqRecord(Seq(r.sequence), id=r.id, description=r.description) for r in records)
    with atomic_write(path) as handle:
        SeqIO.FastaIO.FastaWriter(handle, wrap=line_width).write_file(seq_records)


def records_from_strings(sequences: Iterable[str], prefix: str = "seq") -> list[FastaRecord]:
    """Name sequences ``prefix_0, prefix_1, ...`` (e.g. to write generated samples)."""
    return [FastaRecord(f"{prefix}_{i}", f"{prefix}_{i}", s) for i, s in enumerate(sequences)]


def _fasta_text(path: Path) -> str:
    """The file's text without comment lines, after the binary and missing-header checks."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read file ({error.strerror})") from None
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise DataError(path, f"corrupt gzip file ({error})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            path, f"binary content, not a FASTA text file (byte {error.start} is not UTF-8)"
        ) from None
    control = _CONTROL.search(text)
    if control is not None:
        raise DataError(
            path, f"binary content, not a FASTA text file (control byte at offset {control.start()})"
        )
    lines = [line for line in text.splitlines() if not line.startswith(("#", ";"))]
    first = next(((n, line) for n, line in enumerate(lines, start=1) if line.strip()), None)
    if first is None:
        raise DataError(path, "no FASTA records (the file is empty)")
    if not first[1].startswith(">"):
        raise DataError(
            path, f"missing FASTA header: the first sequence line {first[1][:20]!r} has no '>' line"
        )
    return "\n".join(lines)


def _problem(sequence: str, alphabet: Alphabet | None) -> tuple[str | None, str]:
    """What is wrong with a raw sequence (None if nothing) and its invalid letters after normalisation."""
    if not sequence:
        return "empty sequence", ""
    if alphabet is None:
        return None, ""
    bad = alphabet.invalid_letters(alphabet.normalise(sequence))
    if not bad:
        return None, ""
    return f"letters {bad!r} are not in the {alphabet.name} alphabet {alphabet.letters!r}", bad


def _checked_replacement(alphabet: Alphabet | None, on_invalid: str, replacement: str | None) -> str:
    if on_invalid != "replace":
        return ""
    if alphabet is None:
        raise ConfigError("on_invalid='replace' needs an alphabet")
    replacement = alphabet.unknown_letter if replacement is None else alphabet.normalise(replacement)
    if len(replacement) != 1 or replacement not in alphabet.letters:
        raise ConfigError(
            f"replacement {replacement!r} is not a token of the {alphabet.name} alphabet {alphabet.letters!r}"
            " (use unknown=True to keep the unknown letter, or pass a residue)"
        )
    return replacement


def _warn(path: Path, action: str, names: list[str]) -> None:
    if names:
        warnings.warn(
            f"{path}: {action} {len(names)} invalid record(s), first {names[0]!r}",
            InvalidRecordsWarning,
            stacklevel=3,
        )
