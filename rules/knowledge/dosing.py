"""Read strengths, doses, frequencies and timing from structured fields and from text as written."""

import re
from dataclasses import dataclass
from functools import lru_cache

from rules.knowledge.text import fold

MASS_TO_MG = {"mg": 1.0, "mcg": 0.001, "ug": 0.001, "g": 1000.0, "gm": 1000.0, "gram": 1000.0, "grams": 1000.0}
UNIT_FORMS = {  # dose units that count dispensed units (tablets, capsules …) rather than mass or volume
    "tablet": "tablet",
    "tablets": "tablet",
    "tab": "tablet",
    "tabs": "tablet",
    "capsule": "capsule",
    "capsules": "capsule",
    "cap": "capsule",
    "caps": "capsule",
    "film": "film",
    "films": "film",
    "patch": "patch",
    "patches": "patch",
    "lozenge": "lozenge",
    "troche": "lozenge",
    "suppository": "suppository",
    "spray": "spray",
    "sprays": "spray",
    "puff": "puff",
    "puffs": "puff",
    "drop": "drop",
    "drops": "drop",
    "piece": "piece",
    "pieces": "piece",
    "unit": "unit",
    "units": "unit",
    "each": "unit",
    "vial": "unit",
    "injection": "unit",
    "syringe": "unit",
    "dose": "unit",
    "doses": "unit",
    "packet": "unit",
}
VOLUME_TO_ML = {"ml": 1.0, "l": 1000.0, "cc": 1.0, "tsp": 5.0, "teaspoon": 5.0, "tbsp": 15.0, "tablespoon": 15.0}

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
WORD_NUMBERS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "a": 1,
    "an": 1,
    "half": 0.5,
    "one half": 0.5,
    "a half": 0.5,
    "quarter": 0.25,
    "one quarter": 0.25,
    "a quarter": 0.25,
    "one fourth": 0.25,
    "a fourth": 0.25,
    "one third": 1 / 3,
    "a third": 1 / 3,
    "\u00bd": 0.5,
    "\u00bc": 0.25,
    "\u00be": 0.75,
    "\u2153": 1 / 3,
    # Apothecary numerals as sigs write them before a unit ("ii caps"); "iv" is left out, it is the route.
    "i": 1,
    "ii": 2,
    "iii": 3,
}

_CONCENTRATION = re.compile(_NUM + r"\s*(mg|mcg|ug|g)\s*(?:/|per)\s*" + _NUM + r"?\s*(ml|cc)\b")
_RATE = re.compile(_NUM + r"\s*(mcg|ug|mg)\s*/\s*(?:24\s*)?(hr|h|hour)\b")
_SHARED_UNIT = re.compile(_NUM + r"\s*[-/]\s*" + _NUM + r"(?:\s*[-/]\s*" + _NUM + r")?\s*(mg|mcg|ug|g)\b")
_SINGLE = re.compile(_NUM + r"\s*(mg|mcg|ug|g|gm)\b")


@lru_cache(maxsize=4096)
def parse_strengths(text: str) -> tuple[tuple[float, str], ...]:
    """Strengths written in a name, in order: ((value, unit), …) with unit mg, mg/mL or mcg/hr."""
    text = fold(text)
    found: list[tuple[int, list[tuple[float, str]]]] = []

    def take(pattern, convert):
        nonlocal text
        for match in pattern.finditer(text):
            found.append((match.start(), convert(match)))
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)

    take(_CONCENTRATION, lambda m: [(float(m.group(1)) * MASS_TO_MG[m.group(2)] / float(m.group(3) or 1), "mg/mL")])
    take(_RATE, lambda m: [(float(m.group(1)) * MASS_TO_MG[m.group(2)] * 1000, "mcg/hr")])
    take(_SHARED_UNIT, lambda m: [(float(v) * MASS_TO_MG[m.group(4)], "mg") for v in m.group(1, 2, 3) if v])
    take(_SINGLE, lambda m: [(float(m.group(1)) * MASS_TO_MG[m.group(2)], "mg")])
    return tuple(item for _, items in sorted(found, key=lambda pair: pair[0]) for item in items)


@dataclass(frozen=True)
class Frequency:
    """How often, whether as needed, and whether the schedule is at bedtime (None: not stated)."""

    times_per_day: float | None = None
    as_needed: bool = False
    bedtime: bool | None = None
    timing_stated: bool = False


_EVERY_HOURS = re.compile(r"\b(?:q|every)\s*" + _NUM + r"(?:\s*(?:-|to)\s*" + _NUM + r")?\s*(?:h|hr|hrs|hours?)\b")
_TIMES_A_DAY = re.compile(
    r"\b(?:(\d+)\s*(?:x|times?)|(once|twice)|(one|two|three|four|five|six)\s+times?)"
    r"\s*(?:a|per|each|/)?\s*(?:day|daily|d)\b"
)
# Intermittent schedules, read before daily ones ("twice weekly" is not twice a day): "3 times a week",
# "every 3 days", "every third day", and the days of the week named ("Mon, Wed, Fri", "MWF").
_TIMES_A_WEEK = re.compile(
    r"\b(?:(\d+)\s*(?:x|times?)|(once|twice)|(one|two|three|four|five|six)\s+times?)\s*(?:a|per|each|/)?\s*"
    r"(?:week|weekly|wk)\b"
)
_EVERY_N_DAYS = re.compile(r"\b(?:every|q)\s*(\d+|other|second|third|fourth)(?:rd|nd|th)?\s*days?\b")
_ORDINAL_DAYS = {"other": 2, "second": 2, "third": 3, "fourth": 4}
_WEEKDAYS = re.compile(
    r"\b(mon(?:day)?|tue(?:s|sday)?|wed(?:nesday)?|thu(?:rs|rsday)?|fri(?:day)?|saturday|sunday)s?\b"
)
_WEEKDAY_LETTERS = re.compile(r"\b(m\W?w\W?f|t\W?th|tu\W?th)\b")
_COUNT_WORDS = {"once": 1, "twice": 2, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_FIXED = [
    (re.compile(r"\b(?:qid|q\.i\.d)\b|four times"), 4.0),
    (re.compile(r"\b(?:tid|t\.i\.d)\b|three times"), 3.0),
    (re.compile(r"\b(?:bid|b\.i\.d|q12h?)\b|twice"), 2.0),
    (re.compile(r"\b(?:qod|every other day|alternate days)\b"), 0.5),
    (re.compile(r"\b(?:weekly|once a week|every week|qweek|qwk|q ?wk)\b"), 1 / 7),
    (re.compile(r"\b(?:monthly|every month|once a month|every 4 weeks|q ?4 ?weeks?|q ?month)\b"), 1 / 28),
    (
        re.compile(
            r"\b(?:qd|q\.d|daily|once|every day|each day|a day|per day|nightly|qhs|qam|qpm|hs|qday|q24h?"
            r"|every (?:morning|night|evening)|at bedtime|at night|in the (?:morning|evening)|bedtime)\b"
        ),
        1.0,
    ),
]
_BEDTIME = re.compile(
    r"\b(?:qhs|hs|bedtime|bed time|at night|nightly|every night|before (?:bed|sleep|sleeping)"
    r"|at sleep|qpm|every evening|in the evening|evening|night)\b"
)
_DAYTIME = re.compile(r"\b(?:qam|morning|am|breakfast|noon|lunch|daytime|afternoon|with meals|upon waking)\b")
_AS_NEEDED = re.compile(r"\b(?:prn|p\.r\.n|as needed|when needed|if needed|as required)\b")


@lru_cache(maxsize=2048)
def parse_frequency(*texts: str | None) -> Frequency:
    """Frequency, as-needed and bedtime from the frequency, timing and sig text as written."""
    text = " ".join(fold(t) for t in texts if t)
    if not text.strip():
        return Frequency()
    as_needed = bool(_AS_NEEDED.search(text))
    times = _times_a_week(text)
    match = _EVERY_HOURS.search(text) if times is None else None
    if match:
        hours = min(float(v) for v in match.groups() if v)
        times = 24.0 / hours if hours > 0 else None
    if times is None:
        match = _TIMES_A_DAY.search(text)
        if match:
            word = next(group for group in match.groups() if group)
            times = float(_COUNT_WORDS.get(word, word if word.isdigit() else 0)) or None
    if times is None:
        for pattern, value in _FIXED:
            if pattern.search(text):
                times = value
                break
    bedtime_words = bool(_BEDTIME.search(text))
    daytime_words = bool(_DAYTIME.search(text))
    bedtime: bool | None
    if daytime_words or (times is not None and times > 1):
        bedtime = False
    elif bedtime_words:
        bedtime = True
    else:
        bedtime = None
    return Frequency(times, as_needed, bedtime, bedtime_words or daytime_words)


def _times_a_week(text):
    """Doses a day of an intermittent schedule (3 times a week: 3/7), or None when the schedule is not weekly."""
    match = _TIMES_A_WEEK.search(text)
    if match:
        word = next(group for group in match.groups() if group)
        count = float(_COUNT_WORDS.get(word, word if word.isdigit() else 0))
        return count / 7 if count else None
    match = _EVERY_N_DAYS.search(text)
    if match:
        days = float(_ORDINAL_DAYS.get(match.group(1), match.group(1)))
        return 1 / days if days >= 1 else None
    letters = _WEEKDAY_LETTERS.search(text)
    if letters:
        return (3 if letters.group(1).startswith("m") else 2) / 7
    days = {m.group(1)[:2] for m in _WEEKDAYS.finditer(text)}
    return len(days) / 7 if days and not re.search(r"\b(?:daily|every day|nightly|qhs|bid|tid)\b", text) else None


@dataclass(frozen=True)
class SigDose:
    """A dose read from a sig: mass in mg, or a count of units (possibly a fraction), and splitting words."""

    mg: float | None = None
    units: float | None = None
    split_words: tuple[str, ...] = ()


_DISSOLVE = re.compile(
    r"dissolve.*?" + _NUM + r"\s*(mg|mcg|g)?.*?\bin\s*" + _NUM + r"\s*(ml|cc)\b.*?\b" + _NUM + r"\s*(ml|cc)\b"
)
_PIECES = re.compile(
    r"\b(?:into|in)\s*(?:(\d+|two|three|four|five|six)\s*(?:equal\s*)?(?:pieces|parts|portions)|(halves|thirds|quarters))\b"
)
_PIECES_NAMED = {"halves": 2, "thirds": 3, "quarters": 4}
_PIECES_TAKEN = re.compile(
    r"\b(\d+|one|two|three|a)\s*(?:pieces?|parts?|portions?|halves|half|thirds?|quarters?)\b(?!\s*(?:a|per)\s*day)"
)
# The home-made liquid without a count: "dissolve (one tablet) in 50 mL water, take 3 mL".
_DISSOLVE_ONE = re.compile(
    r"dissolve\s+(?:(?:a|one|1|the|each)\s+)?(?:(?:tablet|tab|capsule|cap|it)\s+)?in\s*"
    + _NUM
    + r"\s*(ml|cc)\b.*?\b"
    + _NUM
    + r"\s*(ml|cc)\b"
)
# "1 mL = 20 drops", "20 drops = 1 mL", "20 gtt/mL": how many drops make a millilitre, as the label states it.
_DROPS_PER_ML = (
    re.compile(_NUM + r"\s*(?:ml|cc)\s*(?:=|equals|is)\s*" + _NUM + r"\s*(?:drops?|gtts?)\b"),
    re.compile(_NUM + r"\s*(?:drops?|gtts?)\s*(?:=|equals|is|per)\s*" + _NUM + r"?\s*(?:ml|cc)\b"),
    re.compile(_NUM + r"\s*(?:drops?|gtts?)\s*/\s*(ml|cc)\b"),
)
_IN_HALF = re.compile(r"\b(?:in|into)\s*(?:half|halves)\b")
_MASS_DOSE = re.compile(_NUM + r"\s*(mg|mcg|ug|g)\b(?!\s*/)")
_FRACTION_WORDS = "|".join(sorted((re.escape(k) for k in WORD_NUMBERS), key=len, reverse=True))
_UNIT_WORDS = "|".join(sorted(UNIT_FORMS, key=len, reverse=True))
_UNIT_DOSE = re.compile(
    r"(?:(\d+)\s*/\s*(\d+)|" + _NUM + r"|(?<![a-z])(" + _FRACTION_WORDS + r"))\s*(?:of\s*)?(?:(?:a|an|one|the)\s+)?"
    r"(?:" + _UNIT_WORDS + r")\b"
)
_VOLUME_DOSE = re.compile(_NUM + r"\s*(ml|cc|tsp|teaspoons?|tbsp|tablespoons?)\b")
_SPLIT_WORDS = re.compile(
    r"\b(quarter|quarters|dissolve|dissolved|crush|crushed|shave|pieces|cut|split|divide|divided|break|halve)\b"
)


@lru_cache(maxsize=2048)
def parse_sig_dose(text: str | None, strength_mg: float | None = None) -> SigDose:
    """The dose per administration from a sig as written; strength_mg lets mL and tablets become mg."""
    text = fold(text or "")
    if not text.strip():
        return SigDose()
    split_words = tuple(sorted(set(_SPLIT_WORDS.findall(text))))
    match = _DISSOLVE.search(text)
    if match:
        # "dissolve one 50 mg tablet in 50 mL, take 4.5 mL": the home-made liquid LDN recipe.
        count = float(match.group(1))
        amount = count * MASS_TO_MG[match.group(2)] if match.group(2) else count * (strength_mg or 0)
        volume, taken = float(match.group(3)), float(match.group(5))
        if volume > 0 and amount > 0:
            return SigDose(mg=amount * taken / volume, split_words=split_words)
    match = _DISSOLVE_ONE.search(text)
    if match and strength_mg:
        volume, taken = float(match.group(1)), float(match.group(3))
        if volume > 0:
            return SigDose(mg=strength_mg * taken / volume, split_words=split_words)
    match = _PIECES.search(text)
    if match:
        count_word = match.group(1)
        pieces = float(
            _PIECES_NAMED.get(match.group(2))  # type: ignore[arg-type]  # `or` typed from its left side; never None
            or _COUNT_WORDS.get(count_word, count_word if count_word.isdigit() else 0)
        )
        taken_match = _PIECES_TAKEN.search(text[match.end() :])
        taken_count = float(WORD_NUMBERS.get(taken_match.group(1), taken_match.group(1))) if taken_match else 1.0
        if pieces > 0:
            return SigDose(units=taken_count / pieces, split_words=split_words)
    if _IN_HALF.search(text):
        return SigDose(units=0.5, split_words=split_words)
    match = _UNIT_DOSE.search(text)
    if match:
        if match.group(1):
            denominator = float(match.group(2))
            units = float(match.group(1)) / denominator if denominator else None
        elif match.group(3):
            units = float(match.group(3))
        else:
            units = float(WORD_NUMBERS[match.group(4)])
        return SigDose(units=units, split_words=split_words)
    match = _MASS_DOSE.search(text)
    if match:
        return SigDose(mg=float(match.group(1)) * MASS_TO_MG[match.group(2)], split_words=split_words)
    return SigDose(split_words=split_words)


@lru_cache(maxsize=4096)
def drops_per_ml(text: str | None) -> float | None:
    """Drops in one millilitre as the line states it ("1 mL = 20 drops"), or None when it does not."""
    text = fold(text or "")
    match = _DROPS_PER_ML[0].search(text)
    if match and float(match.group(1)) > 0:
        return float(match.group(2)) / float(match.group(1))
    match = _DROPS_PER_ML[1].search(text)
    if match and float(match.group(2) or 1) > 0:
        return float(match.group(1)) / float(match.group(2) or 1)
    match = _DROPS_PER_ML[2].search(text)
    return float(match.group(1)) if match else None


def volume_ml(value: float, unit: str) -> float | None:
    """A volume in mL, or None when the unit is not a volume."""
    factor = VOLUME_TO_ML.get(unit.lower())
    return value * factor if factor else None
