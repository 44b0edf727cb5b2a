"""Recognize what a medication is from its text and codes, accounting for every word; exact lookups, never fuzzy.

A line is read as a pharmacist reads it: each word is a drug name (ingredient or brand), a salt, a strength, a
form, route or release word, a sig word or noise. Dispensing-system truncations ("OXYC", "HYDROC BIT") are
expanded only when the expansion is unambiguous: one reading among the known names, or one that the salt or the
partner ingredients of the line admit. Context-dependent abbreviations ("T3", "MS", "HCT") are read from the
strength that follows them. What stays ambiguous or unexplained is reported with the line, never guessed.
"""

from __future__ import annotations

import bisect
import difflib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from rules.knowledge.dosing import parse_strengths
from rules.knowledge.sig import split_sig
from rules.knowledge.systems import NDC, RXNORM
from rules.knowledge.text import (
    FORM_WORDS,
    NOISE_WORDS,
    SALT_ABBREVIATIONS,
    SALT_WORDS,
    SEP,
    SIG_WORDS,
    content_tokens,
    fold,
    split_brackets,
)

if TYPE_CHECKING:
    from rules.knowledge.vocabulary import Vocabulary

__all__ = ["NDC", "RXNORM", "EMPTY", "Ambiguity", "Reading", "Recognition", "recognize_code", "recognize_text"]

_LONGEST_NAME = 8  # tokens; longer vocabulary names are not worth the scan
_MIN_TRUNCATION = 3  # letters: shorter words are abbreviations, read only from the curated table
_MAX_READINGS = 40  # a truncation with more readings than this is reported as unresolvable
_MAX_COMBINATIONS = 512  # bounded work when fitting several truncations to one product
_SPELLING_CUTOFF = 0.8
# Labeler-product-package segment lengths of a 10-digit NDC, and where the 11th zero goes.
_NDC_SHAPES: dict[tuple[int, ...], Callable[[str, str, str], str]] = {
    (4, 4, 2): lambda a, b, c: "0" + a + b + c,
    (5, 3, 2): lambda a, b, c: a + "0" + b + c,
    (5, 4, 1): lambda a, b, c: a + b + "0" + c,
}
_FORM_OF_TEXT = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Reading:
    """One thing an ambiguous word can be: a label a pharmacist would write and its ingredients."""

    label: str
    ingredients: tuple[str, ...]
    generic: bool = False  # the label is an ingredient's generic name (not a brand or synonym)
    opioid: bool = False  # one of its ingredients is an opioid agonist


def _reading(vocabulary, label, ingredients, generic=False):
    ingredients = tuple(ingredients)
    return Reading(label, ingredients, generic, "opioid_agonist" in _classes(vocabulary, ingredients))


@dataclass(frozen=True)
class Ambiguity:
    """A word with several readings; how it arose ('abbreviation', 'truncation', 'spelling', 'sig')."""

    term: str
    readings: tuple[Reading, ...]
    kind: str


@dataclass(frozen=True)
class Recognition:
    """What a text or code resolved to: ordered ingredients, product flags, and how each word was read."""

    ingredients: tuple[str, ...] = ()
    flags: frozenset[str] = frozenset()
    matched: tuple[str, ...] = ()  # the vocabulary keys or codes that matched, for explanation
    unmatched: tuple[str, ...] = ()  # words that are none of drug, salt, strength, form, sig or noise
    displays: tuple[str, ...] = ()  # reference product descriptions behind matched codes
    # (word as written, what it was read as) for truncations and abbreviations
    expansions: tuple[tuple[str, str], ...] = ()
    ambiguities: tuple[Ambiguity, ...] = ()  # Ambiguity records for words that were not resolved to one reading

    @property
    def recognized(self) -> bool:
        """True when something was identified (normalise_medication decides whether every word was)."""
        return bool(self.ingredients)

    def merge(self, other: Recognition) -> Recognition:
        """Union two recognitions, keeping ingredient order of first appearance."""
        return Recognition(
            tuple(dict.fromkeys(self.ingredients + other.ingredients)),
            self.flags | other.flags,
            self.matched + other.matched,
            self.unmatched + other.unmatched,
            self.displays + other.displays,
            self.expansions + other.expansions,
            self.ambiguities + other.ambiguities,
        )


EMPTY = Recognition()


# --- Indexes built once per vocabulary (the vocabulary is hashed by identity) ---


@lru_cache(maxsize=4)
def _single_word_keys(vocabulary):
    """(generic names, other names): sorted one-word names a truncated word is expanded from.

    A truncation is read among the generic names first ("OXYC" is a cut generic name far more often than a cut
    brand); the brands and synonyms are the pool only when no generic name begins with the word ("DILAUD").
    """
    generic, other = [], []
    for key in vocabulary.names:
        if " " in key or not key.isalpha():
            continue
        (generic if vocabulary.lookup_name(key)[0] == (key,) else other).append(key)
    return tuple(sorted(generic)), tuple(sorted(other))


@lru_cache(maxsize=4)
def _product_sets(vocabulary):
    """Ingredient sets of every known multi-ingredient product (names and coded products alike)."""
    sets = {frozenset(value.partition("|")[0].split(";")) for value in vocabulary.names.values()}
    for table in (vocabulary.rxcui, vocabulary.ndc):
        sets.update(frozenset(record["i"]) for record in table.values())
    return frozenset(s for s in sets if len(s) > 1)


def _classes(vocabulary, ingredients):
    return frozenset(c for i in ingredients for c in vocabulary.classes_of(i))


def reading_classes(vocabulary: Vocabulary, reading: Reading) -> frozenset[str]:
    """The clinical classes of one reading (the union of its ingredients' classes)."""
    return _classes(vocabulary, reading.ingredients)


# --- Words that are not drug names ---

_INDICATION = re.compile(r"\bfor\b[^,;()\[\]]*")


# Sig tokens written as one word: "q6h", "q4-6h", "q72h", "q3d", "x7", "2x".
_SIG_TOKEN = re.compile(r"^(?:q\d+(?:-\d+)?(?:h|hr|hrs|d|wk|w)?|\d+x|x\d+)$")


def _is_accounted(token):
    """A word that is not part of a drug name: sig, noise, form, route, unit, salt or a lone letter."""
    return (
        token in SIG_WORDS
        or bool(_SIG_TOKEN.match(token))
        or token in NOISE_WORDS
        or token in FORM_WORDS
        or token in SALT_WORDS
        or len(token) == 1
        or token.startswith("#")
        or not any(ch.isalpha() for ch in token)
    )


# --- Truncations ---


def _prefix_keys(keys, word):
    start = bisect.bisect_left(keys, word)
    out = []
    for key in keys[start:]:
        if not key.startswith(word) or len(out) > _MAX_READINGS * 4:
            break
        out.append(key)
    return out


def _truncation_readings(vocabulary, word, salt):
    """Readings of a truncated word: one per distinct ingredient set among the names it begins, generics first."""
    generic_pool, other_pool = _single_word_keys(vocabulary)
    readings = {}
    for pool, generic in ((generic_pool, True), (other_pool, False)):
        keys = _prefix_keys(pool, word)
        if salt and keys:
            full = SALT_ABBREVIATIONS.get(salt, salt)
            keys = [k for k in keys if f"{k} {full}" in vocabulary.names] or (keys if not generic else [])
        for key in keys:
            ingredients = tuple(sorted(vocabulary.lookup_name(key)[0]))
            if ingredients not in readings or generic:
                readings[ingredients] = _reading(vocabulary, key, ingredients, generic)
    if len(readings) > _MAX_READINGS:
        return None
    return tuple(sorted(readings.values(), key=lambda r: (not r.generic, r.label)))


def _settle(vocabulary, readings):
    """One reading when the line admits exactly one generic name and no other reading adds a class to it."""
    if len(readings) == 1:
        return readings
    generic = [r for r in readings if r.generic]
    if len(generic) == 1:
        classes = _classes(vocabulary, generic[0].ingredients)
        if all(_classes(vocabulary, r.ingredients) <= classes for r in readings):
            return tuple(generic)
    return readings


def _fit_products(vocabulary, certain, pending):
    """Narrow truncations by the known products: the readings that, with the line's certain ingredients, make
    up one known product. pending: {word: readings}. Returns the narrowed {word: readings}."""
    words = list(pending)
    choices = [pending[w] for w in words]
    total = 1
    for readings in choices:
        total *= len(readings)
    if total > _MAX_COMBINATIONS:
        return pending
    products = _product_sets(vocabulary)
    fitting = []
    for combo in itertools.product(*choices):
        together = frozenset(certain).union(*(r.ingredients for r in combo))
        if len(together) > 1 and any(together <= product for product in products):
            fitting.append(combo)
    if not fitting:
        return pending
    return {w: tuple(dict.fromkeys(combo[i] for combo in fitting)) for i, w in enumerate(words)}


# --- Context-dependent abbreviations ---


def _evidence(segment, term):
    """What the text after an abbreviation says about it: its first strength (mg), forms and words."""
    match = re.search(r"(?<![a-z0-9])" + re.escape(term) + r"(?![a-z0-9])", segment)
    after = segment[match.end() :] if match else ""
    strengths = [value for value, unit in parse_strengths(after) if unit in ("mg", "mg/mL")]
    words = set(_FORM_OF_TEXT.findall(after))
    if "%" in after:
        words.add("%")
    return (strengths[0] if strengths else None), words


def _abbreviation_readings(vocabulary, segment, term):
    """The readings of a context-dependent abbreviation that the strength and words after it admit."""
    strength, words = _evidence(segment, term)
    entries = vocabulary.ambiguous[term]
    if strength is not None:
        entries = [e for e in entries if e.get("min_mg", 0) <= strength <= e.get("max_mg", float("inf"))]
    marked = [e for e in entries if words & set(e.get("words", ()))]
    return tuple(_reading(vocabulary, e["label"], e["i"]) for e in (marked or entries))


# --- The scan ---


def _lookup(vocabulary, window):
    """A vocabulary hit for a token window, as written or with its salt words dropped."""
    found = vocabulary.lookup_name(" ".join(window))
    if found is None:
        stripped = [t for t in window if t not in SALT_WORDS]
        if stripped and stripped != window and SEP not in (stripped[0], stripped[-1]):
            found = vocabulary.lookup_name(" ".join(stripped))
    return found


def _scan(vocabulary, toks):
    """Greedy longest match over salt-kept content tokens; returns hits and the leftover token positions."""
    hits, leftover = [], []
    index = 0
    while index < len(toks):
        token = toks[index]
        if token == SEP or token.startswith("#"):
            index += 1
            continue
        for end in range(min(len(toks), index + _LONGEST_NAME), index, -1):
            if toks[end - 1] == SEP or (end == index + 1 and (token in vocabulary.ambiguous or token in SIG_WORDS)):
                continue
            found = _lookup(vocabulary, toks[index:end])
            if found:
                hits.append((" ".join(toks[index:end]), found))
                index = end
                break
        else:
            leftover.append(index)
            index += 1
    return hits, leftover


def _spelling_readings(vocabulary, word):
    """Close names by spelling that are opioids: never a reading the service acts on, only a reason to look."""
    pool = _names_with_prefix(vocabulary, word[:2])
    close = difflib.get_close_matches(word, pool, n=3, cutoff=_SPELLING_CUTOFF)
    readings = [_reading(vocabulary, c, sorted(vocabulary.lookup_name(c)[0])) for c in close]
    return tuple(r for r in readings if r.opioid)


def _read_segment(vocabulary, segment, certain_elsewhere):
    """Read one bracket-free segment of product text into a Recognition."""
    toks = content_tokens(segment, drop_salts=False)
    hits, leftover = _scan(vocabulary, toks)
    ingredients, flags, matched = [], set(), []
    for key, (found_ingredients, found_flags) in hits:
        ingredients.extend(found_ingredients)
        flags.update(found_flags)
        matched.append(key)
    unmatched, expansions, ambiguities = [], [], []
    pending = {}
    for position in leftover:
        token = toks[position]
        if token in vocabulary.ambiguous:
            readings = _abbreviation_readings(vocabulary, segment, token)
            if len(readings) == 1:
                ingredients.extend(readings[0].ingredients)
                expansions.append((token, readings[0].label))
            else:
                ambiguities.append(
                    Ambiguity(
                        token,
                        readings
                        or tuple(_reading(vocabulary, e["label"], e["i"]) for e in vocabulary.ambiguous[token]),
                        "abbreviation",
                    )
                )
            continue
        if _is_accounted(token):
            continue
        following = toks[position + 1] if position + 1 < len(toks) else None
        salt = following if following in SALT_WORDS else None
        readings = None
        if token.isalpha() and len(token) >= _MIN_TRUNCATION:
            readings = _truncation_readings(vocabulary, token, salt)
        if readings:
            pending[token] = readings
        else:
            unmatched.append(token)
            spelled = _spelling_readings(vocabulary, token) if len(token) >= 5 else ()
            if spelled:
                ambiguities.append(Ambiguity(token, spelled + (Reading("an unknown name", ()),), "spelling"))
    together = frozenset(ingredients).union(*(r[0].ingredients for r in pending.values() if len(r) == 1))
    if len(together) > 1 and not any(together <= p for p in _product_sets(vocabulary)):
        # No known product has these ingredients: a short abbreviation among them ("DIPHEN" in "DIPHEN/ATROP")
        # may be a cut name of another ingredient. Read such a word as a truncation, its exact meaning kept.
        for key, (found_ingredients, _flags) in hits:
            if key.isalpha() and len(key) <= 6 and found_ingredients != (key,):
                readings = _truncation_readings(vocabulary, key, None)
                if readings is None:  # too many names begin so: the exact meaning is one reading among others
                    readings = (Reading(f"another name beginning '{key}'", ()),)
                exact = _reading(vocabulary, key, sorted(found_ingredients))
                pending[key] = (exact,) + tuple(r for r in readings if r.ingredients != exact.ingredients)
                for ingredient in found_ingredients:
                    ingredients.remove(ingredient)
                matched.remove(key)
    if pending:
        several = {w: r for w, r in pending.items() if len(r) > 1}
        partners = set(ingredients) | set(certain_elsewhere)
        partners.update(i for r in pending.values() if len(r) == 1 for i in r[0].ingredients)
        if several and (partners or len(pending) > 1):
            pending.update(_fit_products(vocabulary, partners, several))
        for word, readings in pending.items():
            readings = _settle(vocabulary, readings)
            if len(readings) == 1:
                ingredients.extend(readings[0].ingredients)
                expansions.append((word, readings[0].label))
            else:
                ambiguities.append(Ambiguity(word, readings, "truncation"))
    return Recognition(
        tuple(dict.fromkeys(ingredients)),
        frozenset(flags),
        tuple(matched),
        tuple(unmatched),
        (),
        tuple(expansions),
        tuple(ambiguities),
    )


def _read_sig_words(vocabulary, sig_text):
    """The sig part of a line: its words must be sig, noise, form or number words. Any other word is reported as
    not understood, and a drug name there (an opioid "mentioned" in the sig) as a word that could be an opioid."""
    sig_text = _INDICATION.sub(" ", sig_text)  # "for MS", "for pain": the indication, not a drug
    words = [t for t in content_tokens(sig_text, drop_salts=False) if t != SEP and not _is_accounted(t)]
    ambiguities = []
    for word in words:
        found = vocabulary.lookup_name(word)
        reading = _reading(vocabulary, word, sorted(found[0])) if found else None
        if reading is not None and reading.opioid:
            ambiguities.append(Ambiguity(word, (reading, Reading("a mention only (not what this line is)", ())), "sig"))
    return Recognition(unmatched=tuple(words), ambiguities=tuple(ambiguities))


def _restating(recognition, certain):
    """An abbreviation that restates a drug already named on the line ("liothyronine (T3)") is that drug. When the
    line names several of its readings' ingredients, the reading that is exactly what the line names is meant (a
    product's own name, "codeine … / guaifenesin … Oral Solution [Mucinex]", names its brand in brackets): reading
    it so adds no ingredient and drops none, so nothing is left to ask about."""
    kept, expansions = [], list(recognition.expansions)
    for ambiguity in recognition.ambiguities:
        same = [r for r in ambiguity.readings if r.ingredients and set(r.ingredients) <= certain]
        if len(same) > 1:
            same = [r for r in same if set(r.ingredients) == certain]
        if ambiguity.kind in ("abbreviation", "truncation") and len(same) == 1:
            expansions.append((ambiguity.term, same[0].label))
        else:
            kept.append(ambiguity)
    if len(kept) == len(recognition.ambiguities):
        return recognition
    return replace(recognition, expansions=tuple(expansions), ambiguities=tuple(kept))


def recognize_text(vocabulary: Vocabulary, text: str) -> Recognition:
    """Identify the substances named in free text (a generic, a brand or a whole order line with its sig)."""
    return _recognize_text_cached(vocabulary, text)


@lru_cache(maxsize=4096)
def _recognize_text_cached(vocabulary, text):
    product, sig_text = split_sig(fold(text))
    product = _INDICATION.sub(" ", product)
    main, bracketed = split_brackets(product)
    segments = [main, *bracketed]
    first = [_read_segment(vocabulary, segment, ()) for segment in segments]
    certain = tuple(i for r in first for i in r.ingredients)
    result = EMPTY
    first = [_restating(reading, set(certain)) for reading in first]
    for segment, reading in zip(segments, first, strict=True):
        if any(a.kind == "truncation" for a in reading.ambiguities) and len(segments) > 1:
            # A truncation in the main text may be fitted by a brand in brackets, and the other way round.
            reading = _read_segment(vocabulary, segment, certain)
        result = result.merge(reading)
    if sig_text:
        result = result.merge(_read_sig_words(vocabulary, sig_text))
    return _set_aside_unreviewed(vocabulary, result)


def normalise_ndc(code: str) -> tuple[str, ...] | None:
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
        return tuple(pad(text[:a], text[a : a + b], text[a + b :]) for (a, b, _c), pad in _NDC_SHAPES.items())
    return None


def _set_aside_unreviewed(vocabulary, recognition):
    """An ingredient no pharmacist has classified yet (vocabulary.unreviewed: new in an RxNorm release) is not
    understood: it is reported with the words not understood, never shown as an ingredient of known (no) class.
    The product's reviewed ingredients still count (an opioid with a new partner is still an opioid)."""
    if not vocabulary.unreviewed or vocabulary.unreviewed.isdisjoint(recognition.ingredients):
        return recognition
    return replace(
        recognition,
        ingredients=tuple(i for i in recognition.ingredients if i not in vocabulary.unreviewed),
        unmatched=recognition.unmatched + tuple(i for i in recognition.ingredients if i in vocabulary.unreviewed),
    )


def _record_recognition(vocabulary, record, code):
    flags = frozenset(record.get("f", ()))
    return _set_aside_unreviewed(vocabulary, Recognition(tuple(record["i"]), flags, (code,), (), (record["d"],)))


def recognize_code(vocabulary: Vocabulary, system: str, code: str) -> Recognition:
    """Identify a coded medication (RxNorm product or ingredient RxCUI, NDC); EMPTY when unknown."""
    code = code.strip()
    if system == RXNORM:
        record = vocabulary.rxcui.get(code)
        if record:
            return _record_recognition(vocabulary, record, f"rxnorm:{code}")
        ingredient = vocabulary.ingredient_rxcui.get(code)
        if ingredient:
            return Recognition((ingredient,), frozenset(), (f"rxnorm:{code}",), (), (ingredient,))
    elif system == NDC:
        candidates = normalise_ndc(code) or ()
        hits = [c for c in candidates if c in vocabulary.ndc]
        if len(hits) == 1:
            return _record_recognition(vocabulary, vocabulary.ndc[hits[0]], f"ndc:{hits[0]}")
    return EMPTY


_SUGGESTION_LIMIT = 3


@lru_cache(maxsize=1024)
def _names_with_prefix(vocabulary, prefix):
    """Single-word vocabulary names starting with a two-letter prefix (the pool a suggestion comes from)."""
    return tuple(key for key in vocabulary.names if key.startswith(prefix) and " " not in key)


@lru_cache(maxsize=4096)
def close_spellings(vocabulary: Vocabulary, text: str) -> tuple[str, ...]:
    """Close vocabulary names for the unknown words of a name. Suggestions only: they never decide an alert.
    Cached: difflib over the names sharing a prefix is the costliest step of reading an unknown line."""
    suggestions: list[str] = []
    for token in content_tokens(fold(text)):
        if len(token) < 4 or token == SEP or vocabulary.lookup_name(token):
            continue
        for match in difflib.get_close_matches(token, _names_with_prefix(vocabulary, token[:2]), n=2, cutoff=0.8):
            if match not in suggestions:
                suggestions.append(match)
    return tuple(suggestions[:_SUGGESTION_LIMIT])
