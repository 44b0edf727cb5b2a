"""Load and check the generated vocabulary file; refuse to run on a missing or corrupt one."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "vocabulary.json"

# What a vocabulary must contain before we trust it with patients: a truncated or stale file
# that lost the opioids would otherwise answer "no alerts" for everything.
REQUIRED_INGREDIENTS = ("naltrexone", "oxycodone", "morphine", "buprenorphine", "methadone", "naloxone")
MINIMUM_NAMES = 10_000


class VocabularyError(RuntimeError):
    """The vocabulary file is missing, unreadable or fails its integrity checks."""


@dataclass(frozen=True, eq=False)  # hashed by identity: it keys the recognition cache
class Vocabulary:
    """The runtime knowledge: names, codes, ingredient classes and condition codes."""

    version: str
    names: dict[str, str]  # name key -> "ingredient;ingredient|flag,flag"
    rxcui: dict[str, dict[str, Any]]  # RxCUI -> {"i": ingredients, "d": display, "f": flags}
    ndc: dict[str, dict[str, Any]]  # 11-digit NDC -> the same record
    ingredient_rxcui: dict[str, str]  # ingredient RxCUI -> ingredient
    classes: dict[str, tuple[str, ...]]  # ingredient -> clinical classes
    conditions: dict[str, dict[str, str]]  # "icd10cm" / "snomed" / "names" -> code or phrase -> kind
    # abbreviation -> readings with the strength ranges and words that tell them apart
    ambiguous: dict[str, list[dict[str, Any]]]
    # where the knowledge came from: [{"id", "title", "version", "date"?}] (an RxNorm release when one was read)
    sources: tuple[dict[str, str], ...] = ()
    # ingredients an RxNorm release brought that no pharmacist has classified yet: products and brands carry them,
    # and the service reports them as not understood rather than as ordinary ingredients
    unreviewed: frozenset[str] = frozenset()

    def lookup_name(self, key: str) -> tuple[tuple[str, ...], frozenset[str]] | None:
        """Ingredients and flags for a normalised name key, or None."""
        value = self.names.get(key)
        if value is None:
            return None
        ingredients, _, flags = value.partition("|")
        return tuple(ingredients.split(";")), frozenset(flags.split(",")) if flags else frozenset()

    def classes_of(self, ingredient: str) -> tuple[str, ...]:
        """The clinical classes of an ingredient (empty for ordinary medications)."""
        return self.classes.get(ingredient, ())


def load_vocabulary(path: str | os.PathLike[str] | None = None) -> Vocabulary:
    """Read the vocabulary JSON and check that it is complete enough to be safe."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VocabularyError(f"cannot read vocabulary {path}: {error}") from error
    try:
        vocabulary = Vocabulary(
            version=str(data["version"]),
            names=data["names"],
            rxcui=data["rxcui"],
            ndc=data["ndc"],
            ingredient_rxcui=data["ingredient_rxcui"],
            classes={k: tuple(v) for k, v in data["ingredients"].items()},
            conditions=data["conditions"],
            ambiguous=data.get("ambiguous", {}),
            sources=tuple(data.get("sources", ())),
            unreviewed=frozenset(data.get("unreviewed", ())),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise VocabularyError(f"vocabulary {path} is malformed: missing {error}") from error
    missing = [i for i in REQUIRED_INGREDIENTS if i not in vocabulary.classes or i not in vocabulary.names]
    if missing or len(vocabulary.names) < MINIMUM_NAMES:
        raise VocabularyError(f"vocabulary {path} is incomplete (missing {missing}, {len(vocabulary.names)} names)")
    return vocabulary
