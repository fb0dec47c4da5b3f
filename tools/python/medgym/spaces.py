"""Gymnasium spaces for medgym: text over all of printable Unicode, and the observation dict.

Gymnasium's ``Text`` space holds strings whose characters all belong to its ``charset``. The
server's texts are free text (patient answers, exam reports with units such as "µmol/L",
knowledge passages), so the charset is every printable Unicode character plus the whitespace and
format characters text contains (newline, tab, carriage return, soft hyphen, zero-width joiner,
...). ``Text`` builds index tables of its charset in every instance (0.4 s and 13 MB for 145k
characters), and vector environments deep-copy a space per sub-environment, so
:class:`UnicodeText` keeps those tables once per process and shares them; copies are cheap.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["UINT32_MAX", "UnicodeText", "action_space", "observation_space", "text_charset"]

UINT32_MAX = 2**32 - 1


@dataclass(frozen=True)
class _Tables:
    chars: tuple[str, ...]
    char_set: frozenset[str]
    index: dict[str, np.int32]
    string: str


def _in_charset(c: str) -> bool:
    return c.isprintable() or c in "\n\t\r" or unicodedata.category(c) == "Cf"


@functools.lru_cache(maxsize=1)
def _tables() -> _Tables:
    chars = tuple(c for c in map(chr, range(sys.maxunicode + 1)) if _in_charset(c))
    return _Tables(
        chars=chars,
        char_set=frozenset(chars),
        index={c: np.int32(i) for i, c in enumerate(chars)},
        string="".join(chars),
    )


def text_charset() -> frozenset[str]:
    """Every character a medgym text may hold: printable Unicode, ``\\n``, ``\\t``, ``\\r`` and
    format characters (Unicode category Cf)."""
    return _tables().char_set


class UnicodeText(spaces.Text):
    """A ``gymnasium.spaces.Text`` whose charset is :func:`text_charset` (shared, built once).

    Lengths are in characters, as in ``Text``; ``min_length`` defaults to 0.
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None) -> None:
        if not 0 <= int(min_length) <= int(max_length):
            raise ValueError(f"need 0 <= min_length <= max_length, got {min_length}, {max_length}")
        self.min_length = int(min_length)
        self.max_length = int(max_length)
        _tables()  # build the shared tables now rather than on first use
        spaces.Space.__init__(self, dtype=str, seed=seed)

    @property
    def character_set(self) -> frozenset[str]:
        return _tables().char_set

    @property
    def character_list(self) -> tuple[str, ...]:
        return _tables().chars

    def character_index(self, char: str) -> np.int32:
        return _tables().index[char]

    @property
    def characters(self) -> str:
        return _tables().string

    def contains(self, x: Any) -> bool:
        if isinstance(x, str) and self.min_length <= len(x) <= self.max_length:
            char_set = _tables().char_set
            return all(c in char_set for c in x)
        return False

    def __eq__(self, other: object, /) -> bool:
        if isinstance(other, UnicodeText):
            return self.min_length == other.min_length and self.max_length == other.max_length
        return super().__eq__(other)

    __hash__ = None  # like every gymnasium space with __eq__

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length}, charset=<{len(_tables().chars)} characters>)"


#: Longest observation text the space admits, in characters.
OBSERVATION_MAX_CHARS = 1 << 16


def observation_space(max_chars: int = OBSERVATION_MAX_CHARS) -> spaces.Dict:
    """``{"text": UnicodeText, "turn": int64, "cost_usd": float64, "discomfort": int64}``, each
    number a 0-d array."""
    return spaces.Dict(
        {
            "text": UnicodeText(max_chars),
            "turn": spaces.Box(0, UINT32_MAX, shape=(), dtype=np.int64),
            "cost_usd": spaces.Box(0.0, np.finfo(np.float64).max, shape=(), dtype=np.float64),
            "discomfort": spaces.Box(0, UINT32_MAX, shape=(), dtype=np.int64),
        }
    )


def action_space(max_text_bytes: int) -> UnicodeText:
    """Raw model text. A character takes up to 4 bytes in UTF-8, so every sample of this space
    fits the server's ``max_text_bytes`` limit; longer ASCII text is accepted by the server too."""
    return UnicodeText(max(1, max_text_bytes // 4))
