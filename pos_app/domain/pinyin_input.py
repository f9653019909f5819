"""Pinyin input for the on-screen keyboard: letters typed in, hanzi candidates out.

The table (``resources/ime/pinyin.txt``, made by ``installer/make_pinyin_table.py``)
holds the 3,500 most used hanzi under each of their readings and 6,000 common words,
most frequent first. A cashier types letters without tones or separators ("wangfang");
:meth:`PinyinTable.candidates` splits them into syllables and offers the words that read
as the first syllables (longest first), then the hanzi of the first syllable. Picking a
candidate consumes the syllables it covers; what is left stays to be picked next, as in
a phone's input method: 王 for "wang", then 芳 for "fang".
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

MAX_SYLLABLE = 6  # "zhuang", "shuang"


@dataclass(frozen=True)
class Candidate:
    text: str
    syllables: int
    """How many of the typed syllables it covers (a word's length in hanzi)."""


class PinyinTable:
    """Syllable → hanzi and word tables parsed from the resource text."""

    def __init__(self, text: str) -> None:
        self.chars: dict[str, str] = {}
        self.words: dict[str, list[str]] = {}
        self.rank: dict[str, int] = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            kind, _, rest = line.partition("\t")
            if kind == "r":
                self.rank = {ch: i for i, ch in enumerate(rest)}
            elif kind == "c":
                syllable, _, hanzi = rest.partition("\t")
                self.chars[syllable] = hanzi
            elif kind == "w":
                key, _, words = rest.partition("\t")
                self.words[key] = words.split(" ")
        self._prefixes = {s[:i] for s in self.chars for i in range(1, len(s) + 1)}

    def segment(self, letters: str) -> list[str]:
        """Splits typed letters into syllables: the fewest syllables, and among those the
        split whose neighbours make the most known words, then the one with the fewest
        syllables starting with a vowel ("zhenzhunaicha" → zhen zhu nai cha). The last
        part may be the start of a syllable still being typed ("wangf" → wang, f); a
        letter that begins no syllable stands alone."""
        letters = letters.lower().replace("ü", "v")
        best: list[str] | None = None
        best_score: tuple[int, int, int] = (0, 0, 0)
        for split in self._splits(letters, 0, 64):
            pairs = sum(f"{a}'{b}" in self.words for a, b in pairwise(split))
            # A syllable starting with a vowel mid-word is the rarer reading (fang'an).
            vowels = sum(part[0] in "aeo" for part in split[1:])
            score = (-len(split), pairs, -vowels)
            if best is None or score > best_score:
                best, best_score = split, score
        return best or []

    def _splits(self, letters: str, i: int, budget: int) -> list[list[str]]:
        """Up to ``budget`` ways to split ``letters[i:]`` (longer syllables tried first)."""
        if i == len(letters):
            return [[]]
        found: list[list[str]] = []
        for size in range(min(MAX_SYLLABLE, len(letters) - i), 0, -1):
            piece = letters[i : i + size]
            last = i + size == len(letters)
            if piece in self.chars or (last and piece in self._prefixes):
                for rest in self._splits(letters, i + size, budget - len(found)):
                    found.append([piece, *rest])
                    if len(found) >= budget:
                        return found
        if not found:
            found = [[letters[i], *rest] for rest in self._splits(letters, i + 1, 1)]
        return found

    def hanzi_for(self, part: str) -> str:
        """The hanzi read as ``part``, or as any syllable it begins, most used first."""
        if part in self.chars:
            return self.chars[part]
        found = {ch for s, hanzi in self.chars.items() if s.startswith(part) for ch in hanzi}
        return "".join(sorted(found, key=lambda ch: self.rank.get(ch, len(self.rank))))

    def candidates(self, letters: str, limit: int = 40) -> list[Candidate]:
        """Words covering the first syllables (the most syllables first), then the hanzi
        of the first syllable; at most ``limit``."""
        parts = self.segment(letters)
        if not parts:
            return []
        found: list[Candidate] = []
        seen: set[str] = set()
        complete = [p in self.chars for p in parts]
        for n in range(len(parts), 1, -1):
            if not all(complete[:n]):
                continue
            for word in self.words.get("'".join(parts[:n]), []):
                if word not in seen:
                    seen.add(word)
                    found.append(Candidate(word, n))
        for ch in self.hanzi_for(parts[0]):
            if ch not in seen:
                seen.add(ch)
                found.append(Candidate(ch, 1))
        return found[:limit]

    def remaining(self, letters: str, candidate: Candidate) -> str:
        """The letters still to convert after ``candidate`` is picked."""
        return "".join(self.segment(letters)[candidate.syllables :])
