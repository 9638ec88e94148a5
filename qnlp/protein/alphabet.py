"""Residue alphabets: the 20 amino acids, or physicochemical classes that shrink the vocabulary of residue "words".

A grouped alphabet maps each of the 20 standard residues to one class token (the class's residues written out, e.g.
``"ILMV"``), so a model sees 6 or 7 words instead of 20. Non-standard codes (X, B, Z, J, U, O) never pass silently:
the ``unknown`` policy of ``Alphabet.encode`` says what happens to them.

Built-in groupings (``ALPHABETS``):

- ``aa20``: the 20 standard amino acids, one token each.
- ``dayhoff6``: Dayhoff, Schwartz & Orcutt (1978), "A model of evolutionary change in proteins", Atlas of Protein
  Sequence and Structure 5 suppl. 3: {C} {AGPST} {DENQ} {HKR} {ILMV} {FWY} (groups of residues that substitute
  for one another in PAM matrices).
- ``conjoint7``: Shen et al. (2007), "Predicting protein-protein interactions based only on sequences
  information", PNAS 104:4337: {AGV} {ILFP} {YMTS} {HNQW} {RK} {DE} {C} (dipole strength and side-chain volume).
- ``hydro3``: Dubchak et al. (1995), "Prediction of protein folding class using global description of amino acid
  sequence", PNAS 92:8700: polar {RKEDQN}, neutral {GASTPHY}, hydrophobic {CLVIMFW}.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from qnlp.protein.errors import ProteinDataError, UnknownResidueError

STANDARD = "ACDEFGHIKLMNPQRSTVWY"
UNKNOWN_TOKEN = "X"
# IUPAC non-standard codes -> the standard residues they may stand for (U, O: the closest standard analogue).
AMBIGUITY: dict[str, str] = {"B": "DN", "Z": "EQ", "J": "IL", "U": "C", "O": "K", "X": STANDARD}
# Not residues, but common in sequence files (stop codon, alignment gaps): dropped by the "skip" policy only.
NON_RESIDUES = "*-."
POLICIES = ("error", "map", "resolve", "skip")
_POLICY_HELP = ("'error' (raise), 'map' (every non-standard residue becomes the token 'X'), 'resolve' (U->C, "
                "O->K, B/Z/J -> their class when both readings fall in one class, otherwise 'X'), 'skip' (drop it)")


@dataclass(frozen=True)
class Alphabet:
    """A partition of the 20 standard residues into classes; the token of a class is its residues' string."""

    name: str
    groups: tuple[str, ...]
    reference: str = ""
    _table: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for group in self.groups:
            if not group or not isinstance(group, str):
                raise ProteinDataError(f"alphabet {self.name!r}: empty or non-string group {group!r}")
            for residue in group:
                if residue not in STANDARD:
                    raise ProteinDataError(f"alphabet {self.name!r}: group {group!r} holds {residue!r}, "
                                           f"which is not one of the 20 standard residues {STANDARD}")
                if residue in seen:
                    raise ProteinDataError(f"alphabet {self.name!r}: residue {residue!r} is in both "
                                           f"{seen[residue]!r} and {group!r}")
                seen[residue] = group
        missing = [r for r in STANDARD if r not in seen]
        if missing:
            raise ProteinDataError(f"alphabet {self.name!r}: residues {''.join(missing)} are in no group")
        object.__setattr__(self, "_table", seen)

    @classmethod
    def from_groups(cls, name: str, groups: Iterable[str], reference: str = "") -> Alphabet:
        """A custom grouping, e.g. ``Alphabet.from_groups("mine", ["AVLIMC", "FWYH", "STNQ", "KR", "DE", "GP"])``."""
        return cls(name, tuple(g.upper() for g in groups), reference)

    @property
    def tokens(self) -> tuple[str, ...]:
        """The class tokens, in group order (without the unknown token)."""
        return self.groups

    def vocabulary(self, unknown: str = "error") -> tuple[str, ...]:
        """Every token ``encode`` can emit under ``unknown``: the classes, plus ``'X'`` for map/resolve."""
        _check_policy(unknown)
        return self.groups + ((UNKNOWN_TOKEN,) if unknown in ("map", "resolve") else ())

    def token(self, residue: str) -> str:
        """The class token of one standard residue."""
        try:
            return self._table[residue.upper()]
        except KeyError:
            raise ProteinDataError(f"alphabet {self.name!r}: {residue!r} is not a standard residue") from None

    def _resolve(self, code: str) -> str:
        classes = {self._table[r] for r in AMBIGUITY[code]}
        return classes.pop() if len(classes) == 1 else UNKNOWN_TOKEN

    def encode(self, sequence: str, seq_id: str | None = None, unknown: str = "error") -> tuple[str, ...]:
        """The token of each residue of ``sequence`` (case-insensitive); non-standard codes follow ``unknown``.

        Characters that are no amino-acid code at all (digits, punctuation other than ``* - .``) always raise,
        naming ``seq_id`` and the 1-based position."""
        _check_policy(unknown)
        table = self._table
        out: list[str] = []
        for position, char in enumerate(sequence.upper(), start=1):
            token = table.get(char)
            if token is not None:
                out.append(token)
                continue
            is_code = char in AMBIGUITY
            if unknown == "skip" and (is_code or char in NON_RESIDUES):
                continue
            where = f"sequence {seq_id!r}" if seq_id is not None else "sequence"
            if not is_code:
                kind = "a stop or gap symbol" if char in NON_RESIDUES else "not an amino-acid code"
                hint = " (unknown='skip' drops it)" if char in NON_RESIDUES else ""
                raise UnknownResidueError(f"{where}, position {position}: {char!r} is {kind}{hint}",
                                          seq_id, position, char)
            if unknown == "error":
                raise UnknownResidueError(
                    f"{where}, position {position}: non-standard residue {char!r} ({_describe(char)}); "
                    f"choose unknown= {_POLICY_HELP}", seq_id, position, char)
            out.append(UNKNOWN_TOKEN if unknown == "map" else self._resolve(char))
        return tuple(out)

    def encode_many(self, sequences: Sequence[str], ids: Sequence[str] | None = None,
                    unknown: str = "error") -> list[tuple[str, ...]]:
        """``encode`` for each sequence; errors name ``ids[i]`` (or ``#i`` when no ids are given)."""
        if ids is not None and len(ids) != len(sequences):
            raise ProteinDataError(f"encode_many: {len(ids)} ids for {len(sequences)} sequences")
        names = ids if ids is not None else [f"#{i}" for i in range(len(sequences))]
        return [self.encode(s, n, unknown) for s, n in zip(sequences, names)]

    def __len__(self) -> int:
        return len(self.groups)


def _describe(code: str) -> str:
    return {"X": "any residue", "B": "Asp or Asn", "Z": "Glu or Gln", "J": "Leu or Ile",
            "U": "selenocysteine", "O": "pyrrolysine"}[code]


def _check_policy(unknown: str) -> None:
    if unknown not in POLICIES:
        raise ProteinDataError(f"unknown-residue policy {unknown!r} is not one of {POLICIES}: {_POLICY_HELP}")


ALPHABETS: dict[str, Alphabet] = {
    "aa20": Alphabet("aa20", tuple(STANDARD), "the 20 standard amino acids"),
    "dayhoff6": Alphabet("dayhoff6", ("C", "AGPST", "DENQ", "HKR", "ILMV", "FWY"),
                         "Dayhoff, Schwartz & Orcutt 1978, Atlas of Protein Sequence and Structure 5 suppl. 3"),
    "conjoint7": Alphabet("conjoint7", ("AGV", "ILFP", "YMTS", "HNQW", "RK", "DE", "C"),
                          "Shen et al. 2007, PNAS 104:4337 (conjoint triad classes)"),
    "hydro3": Alphabet("hydro3", ("RKEDQN", "GASTPHY", "CLVIMFW"),
                       "Dubchak et al. 1995, PNAS 92:8700 (hydrophobicity classes)"),
}


def get_alphabet(alphabet: str | Alphabet) -> Alphabet:
    """A built-in alphabet by name (``aa20``, ``dayhoff6``, ``conjoint7``, ``hydro3``), or ``alphabet`` itself."""
    if isinstance(alphabet, Alphabet):
        return alphabet
    try:
        return ALPHABETS[alphabet]
    except (KeyError, TypeError):
        raise ProteinDataError(f"unknown alphabet {alphabet!r}; built-in: {', '.join(ALPHABETS)} "
                               f"(or pass Alphabet.from_groups(...))") from None
