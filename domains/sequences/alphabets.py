"""Alphabets and tokenization for DNA and protein sequences.

An :class:`Alphabet` maps letters to token indices ``0 .. size-1``:

* the canonical residues first (``ACGT`` for DNA, the 20 amino acids ``ACDEFGHIKLMNPQRSTVWY`` for proteins),
  so that a residue's index never depends on the optional tokens below;
* then, only if asked for, the *unknown* token (``N`` for DNA, ``X`` for proteins), the *gap* token ``-``
  (alignments) and the *padding* token (variable-length batches; it has no letter and is never written).

Input letters are normalised before lookup: lower case is upper-cased (Pfam writes insert columns in lower
case), ``.`` is a gap like ``-`` (Pfam's gap in an insert column), and the IUPAC ambiguity codes
(DNA ``RYSWKMBDHV``, protein ``BZJUO``) mean "some residue" and map to the unknown letter. Whether a
normalised letter is *valid* then depends on the tokens present: with ``unknown=False`` an ``N`` is invalid,
with ``gap=False`` a gap is invalid. Invalid letters are never dropped silently: callers choose explicitly
what happens (see :func:`domains.sequences.fasta.read_fasta`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sciddm.errors import ConfigError, choose

DNA_RESIDUES = "ACGT"
PROTEIN_RESIDUES = "ACDEFGHIKLMNPQRSTVWY"
GAP_LETTERS = "-."
_NO_TOKEN = 255
PAD_LETTER = ""  # the padding token has no letter: it is dropped when decoding


@dataclass(frozen=True)
class Alphabet:
    """Token vocabulary of one sequence kind; build it with :func:`get_alphabet`."""

    name: str
    residues: str
    unknown_letter: str
    ambiguity_codes: str
    unknown: bool = False
    gap: bool = False
    pad: bool = False
    letters: str = field(init=False)

    def __post_init__(self) -> None:
        extra = (self.unknown_letter if self.unknown else "") + ("-" if self.gap else "")
        object.__setattr__(self, "letters", self.residues + extra)

    @property
    def size(self) -> int:
        """Number of tokens K, padding included when present."""
        return len(self.letters) + int(self.pad)

    @property
    def num_residues(self) -> int:
        return len(self.residues)

    @property
    def unknown_index(self) -> int | None:
        return self.letters.index(self.unknown_letter) if self.unknown else None

    @property
    def gap_index(self) -> int | None:
        return self.letters.index("-") if self.gap else None

    @property
    def pad_index(self) -> int | None:
        return len(self.letters) if self.pad else None

    def normalise(self, text: str) -> str:
        """Upper-case, map ``.`` to ``-`` and ambiguity codes to the unknown letter."""
        text = text.upper().replace(".", "-")
        return text.translate(
            str.maketrans(self.ambiguity_codes, self.unknown_letter * len(self.ambiguity_codes))
        )

    def invalid_letters(self, normalised: str) -> str:
        """The distinct letters of an already normalised string that have no token, in order of appearance."""
        return "".join(dict.fromkeys(c for c in normalised if c not in self.letters))

    def encode(self, normalised: str) -> np.ndarray:
        """Token indices (uint8) of a normalised string whose letters are all valid."""
        tokens = _lookup_table(self.letters)[np.frombuffer(normalised.encode("ascii"), dtype=np.uint8)]
        if (tokens == _NO_TOKEN).any():
            raise ValueError(
                f"letters {self.invalid_letters(normalised)!r} have no token in {self.letters!r}"
            )
        return tokens

    def encode_many(self, normalised: list[str], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Encode strings as a right-padded ``[N, L]`` uint8 array and an ``[N, L]`` bool mask (real tokens).

        ``L`` is ``length`` when given (every string must fit), else the longest string. Padded positions hold
        the padding token, which must then exist unless every string already has length ``L``.
        """
        longest = max((len(s) for s in normalised), default=0)
        length = longest if length is None else length
        if longest > length:
            raise ConfigError(f"a sequence of length {longest} does not fit the fixed length {length}")
        lengths = np.array([len(s) for s in normalised])
        mask = np.arange(length)[None, :] < lengths[:, None]
        if not mask.all() and not self.pad:
            raise ConfigError(
                f"sequences shorter than {length} need an alphabet with a padding token (pad=True)"
            )
        tokens = np.full(
            (len(normalised), length), 0 if self.pad_index is None else self.pad_index, dtype=np.uint8
        )
        if normalised:
            tokens[mask] = self.encode("".join(normalised))
        return tokens, mask

    def decode(self, tokens: np.ndarray) -> str:
        """Letters of a 1-D token array; padding tokens are dropped."""
        table = np.array(list(self.letters) + ([PAD_LETTER] if self.pad else []))
        return "".join(table[np.asarray(tokens, dtype=np.int64)])


def _lookup_table(letters: str) -> np.ndarray:
    """A 256-entry byte -> token table; bytes that are not letters map to ``_NO_TOKEN``."""
    table = np.full(256, _NO_TOKEN, dtype=np.uint8)
    for index, letter in enumerate(letters):
        table[ord(letter)] = index
    return table


_KINDS = {
    "dna": (DNA_RESIDUES, "N", "RYSWKMBDHV"),
    "protein": (PROTEIN_RESIDUES, "X", "BZJUO"),
}


def get_alphabet(kind: str, unknown: bool = False, gap: bool = False, pad: bool = False) -> Alphabet:
    """The ``"dna"`` or ``"protein"`` alphabet with the optional unknown, gap and padding tokens."""
    residues, unknown_letter, ambiguity = choose(kind, _KINDS, "alphabet")
    return Alphabet(kind, residues, unknown_letter, ambiguity, unknown=unknown, gap=gap, pad=pad)
