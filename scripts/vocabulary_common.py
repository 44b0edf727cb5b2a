"""What the base build and the RxNorm layer share: the Vocabulary builder, precedence levels, how names are stored."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rules.knowledge.text import content_tokens, name_key  # noqa: E402  (the one normal form, shared with the runtime)

# Precedence levels: a higher level replaces a lower one; equal levels merge only for brand components.
UNII_COMMON, UNII_BRAND, UNII_COMPONENTS, UNII_OFFICIAL, REFERENCE, RELEASE, CURATED_LEVEL = 1, 2, 2.5, 3, 4, 4.5, 5


class Vocabulary:
    """Names, codes and ingredient classes as they accumulate from each source."""

    def __init__(self, curated):
        self.synonyms = {name_key(k): v for k, v in curated["ingredient_synonyms"].items()}
        self.classes = {k: list(v) for k, v in curated["ingredients"].items()}
        self.names = {}  # key -> (level, frozenset(ingredients), frozenset(flags))
        self.rxcui = {}
        self.ndc = {}
        self.ingredient_rxcui = {}
        self.known_ingredients = set(self.classes)

    def ingredient(self, substance):
        """The canonical ingredient id of a substance name (salts dropped, synonyms applied)."""
        key = name_key(substance) or name_key(substance, drop_salts=False)
        key = key.replace(" + ", "-")
        return self.synonyms.get(key, key)

    def resolve(self, substance):
        """Ingredient ids in a product component ("Matrix Delivery 24 HR tramadol hydrochloride 100 MG"):
        the whole name if it is an ingredient, else the longest known names inside it (as the runtime does)."""
        whole = self.ingredient(substance)
        if whole in self.known_ingredients:
            return {whole}
        toks = content_tokens(substance)
        found, index = set(), 0
        while index < len(toks):
            for end in range(len(toks), index, -1):
                entry = self.names.get(" ".join(toks[index:end]))
                if entry:
                    found |= entry[1]
                    index = end
                    break
            else:
                index += 1
        return found or {whole}

    def add_name(self, name, ingredients, level, flags=()):
        """Record a name; higher-precedence sources win, brand components of one level merge."""
        for key in name_keys(name):
            self.add_key(key, ingredients, level, flags)

    def add_key(self, key, ingredients, level, flags=()):
        """Record one name key (already normalised); returns True when the key now has this meaning."""
        ingredients = frozenset(i for i in ingredients if i)
        if not ingredients or not key or key == "+":
            return False
        if level < REFERENCE and (len(key) < 4 or key[0] in "#+0123456789"):
            return False  # short codes and numbers from UNII collide with abbreviations and sigs
        current = self.names.get(key)
        if current is None or level > current[0]:
            self.names[key] = (level, ingredients, frozenset(flags))
            return True
        if level == current[0] == CURATED_LEVEL and current[1:] != (ingredients, frozenset(flags)):
            raise SystemExit(f"curated.yaml gives {key!r} two different meanings")
        return current == (level, ingredients, frozenset(flags))


def name_keys(name):
    """The keys a name is stored under: with and without its salt words."""
    return sorted({name_key(name), name_key(name, drop_salts=False)} - {""})


def encode_name(ingredients, flags=()):
    """A name's meaning as the vocabulary file stores it: "ingredient;ingredient|flag,flag"."""
    value = ";".join(sorted(ingredients))
    return value + "|" + ",".join(sorted(flags)) if flags else value


def decode_name(value):
    """(ingredients, flags) of a stored meaning."""
    ingredients, _, flags = value.partition("|")
    return ingredients.split(";"), flags.split(",") if flags else []
