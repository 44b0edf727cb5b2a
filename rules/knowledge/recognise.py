"""Recognise what a medication is from its text and codes: exact lookups after normalisation, never fuzzy."""

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache

from rules.knowledge.text import SEP, content_tokens, fold, split_brackets

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"

_LONGEST_NAME = 8  # tokens; longer vocabulary names are not worth the scan
_NDC_SHAPES = {  # labeler-product-package segment lengths of a 10-digit NDC, and where the 11th zero goes
    (4, 4, 2): lambda a, b, c: "0" + a + b + c,
    (5, 3, 2): lambda a, b, c: a + "0" + b + c,
    (5, 4, 1): lambda a, b, c: a + b + "0" + c,
}


@dataclass(frozen=True)
class Recognition:
    """What a text or code resolved to: ordered ingredients, product flags, and how."""

    ingredients: tuple = ()
    flags: frozenset = frozenset()
    matched: tuple = ()  # the vocabulary keys or codes that matched, for explanation
    unmatched: tuple = ()  # leftover words that matched nothing
    displays: tuple = field(default=())  # reference product descriptions behind matched codes

    @property
    def recognized(self):
        """True when anything at all was identified."""
        return bool(self.ingredients)

    def merge(self, other):
        """Union two recognitions, keeping ingredient order of first appearance."""
        ingredients = tuple(dict.fromkeys(self.ingredients + other.ingredients))
        return Recognition(
            ingredients,
            self.flags | other.flags,
            self.matched + other.matched,
            self.unmatched + other.unmatched,
            self.displays + other.displays,
        )


EMPTY = Recognition()


def _scan(vocabulary, toks):
    """Greedy longest-match of vocabulary names over a token list."""
    ingredients, flags, matched, unmatched = [], set(), [], []
    index = 0
    while index < len(toks):
        if toks[index] == SEP or toks[index].startswith("#"):
            index += 1
            continue
        for end in range(min(len(toks), index + _LONGEST_NAME), index, -1):
            if toks[end - 1] == SEP:
                continue
            key = " ".join(toks[index:end])
            found = vocabulary.lookup_name(key)
            if found:
                # A trailing brand number ("#3") belongs to the name only if the vocabulary says so.
                ingredients.extend(found[0])
                flags.update(found[1])
                matched.append(key)
                index = end
                break
        else:
            unmatched.append(toks[index])
            index += 1
    return ingredients, flags, matched, unmatched


def recognise_text(vocabulary, text):
    """Identify the substances named in free text (a generic, a brand or a whole order line)."""
    return _recognise_text_cached(vocabulary, text)


@lru_cache(maxsize=4096)
def _recognise_text_cached(vocabulary, text):
    main, bracketed = split_brackets(fold(text))
    result = EMPTY
    for segment in [main, *bracketed]:
        toks = content_tokens(segment)
        ingredients, flags, matched, unmatched = _scan(vocabulary, toks)
        if not ingredients:
            # Names that are only salt words ("potassium chloride") are found with their salts kept.
            ingredients, flags, matched, unmatched = _scan(vocabulary, content_tokens(segment, drop_salts=False))
        result = result.merge(
            Recognition(tuple(dict.fromkeys(ingredients)), frozenset(flags), tuple(matched), tuple(unmatched))
        )
    return result


def normalise_ndc(code):
    """The 11-digit form of an NDC written with or without hyphens; None when it is not an NDC shape."""
    text = code.strip()
    if re.fullmatch(r"\d{11}", text):
        return (text,)
    parts = text.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        shape = tuple(len(p) for p in parts)
        if shape == (5, 4, 2):
            return ("".join(parts),)
        if shape in _NDC_SHAPES:
            return (_NDC_SHAPES[shape](*parts),)
        return None
    if re.fullmatch(r"\d{10}", text):
        # Without hyphens a 10-digit NDC is ambiguous: every padding is a candidate, and only an
        # unambiguous exact hit is accepted by the caller.
        return tuple(
            pad(text[:a], text[a : a + b], text[a + b :]) for (a, b, _c), pad in _NDC_SHAPES.items()
        )
    return None


def _record_recognition(record, code):
    flags = frozenset(record.get("f", ()))
    return Recognition(tuple(record["i"]), flags, (code,), (), (record["d"],))


def recognise_code(vocabulary, system, code):
    """Identify a coded medication (RxNorm product or ingredient RxCUI, NDC); EMPTY when unknown."""
    code = code.strip()
    if system == RXNORM:
        record = vocabulary.rxcui.get(code)
        if record:
            return _record_recognition(record, f"rxnorm:{code}")
        ingredient = vocabulary.ingredient_rxcui.get(code)
        if ingredient:
            return Recognition((ingredient,), frozenset(), (f"rxnorm:{code}",))
    elif system == NDC:
        candidates = normalise_ndc(code) or ()
        hits = [c for c in candidates if c in vocabulary.ndc]
        if len(hits) == 1:
            return _record_recognition(vocabulary.ndc[hits[0]], f"ndc:{hits[0]}")
    return EMPTY


_SUGGESTION_LIMIT = 3


@lru_cache(maxsize=1024)
def _names_with_prefix(vocabulary, prefix):
    """Single-word vocabulary names starting with a two-letter prefix (the pool a suggestion comes from)."""
    return tuple(key for key in vocabulary.names if key.startswith(prefix) and " " not in key)


def suggest_names(vocabulary, text):
    """Close vocabulary names for the unknown words of a name. Suggestions only: they never decide an alert."""
    suggestions = []
    for token in content_tokens(fold(text)):
        if len(token) < 4 or token == SEP or vocabulary.lookup_name(token):
            continue
        for match in difflib.get_close_matches(token, _names_with_prefix(vocabulary, token[:2]), n=2, cutoff=0.8):
            if match not in suggestions:
                suggestions.append(match)
    return suggestions[:_SUGGESTION_LIMIT]
