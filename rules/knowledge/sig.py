"""One sig reader for every field: where a line's sig begins, and dose, units, volume, frequency and timing from it.

EHRs and pharmacy systems often write the sig into the medication name ("naltrexone 4.5 mg capsule, 1 capsule
twice a day"). The product part names the drug and its strength; the sig part says how it is taken. The same
reader reads the sig part of a name, the instructions, and the frequency and timing fields.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

from rules.knowledge.dosing import WORD_NUMBERS, SigDose, parse_frequency, parse_sig_dose, volume_ml
from rules.knowledge.text import fold

_COUNT = (
    r"(?:\d+(?:\.\d+)?|\d+\s*/\s*\d+|\.\d+|one|two|three|four|five|six|half|a half|one half|quarter|a quarter|ii|iii)"
)
# A count followed by one of these is a package or a conversion, not a dose: "45 mL bottle", "1 mL = 20 drops".
_NOT_A_DOSE = r"(?!\s*(?:bottles?|btls?|bot|vials?|supply|total|dispensed|qs|=|equals))"
_UNIT = (
    r"(?:tablets?|tabs?|tab|capsules?|caps?|cap|ml|cc|drops?|pieces?|films?|lozenges?|troches?|sprays?|tsp|teaspoons?)"
)
# Where a sig begins in a line: a verb of administration, a count of units, or a frequency or timing word. The
# count must not be a concentration's denominator ("10 mg/5 mL") or the package count after '#' or 'disp'.
_SIG_START = re.compile(
    r"(?:^|(?<=[\s,;:(\-]))(?:"
    r"(?:take|takes|taking|give|inject|apply|place|dissolve|use|sig|chew|swallow|instill|administer|tk|cut|split|crush|divide|break)\b"
    r"|(?<!=\s)(?<!=)"
    + _COUNT
    + r"\s*"
    + _UNIT
    + r"\b"
    + _NOT_A_DOSE
    + r"|(?:qhs|qpm|qam|qd|qod|qday|bid|tid|qid|hs|qn|nightly|daily|once|twice|thrice|every|at bedtime|at night"
    r"|in the (?:morning|evening)|before bed|prn|as needed|by mouth|po\s+(?:qhs|hs|daily|bid|tid|qd|nightly)"
    r"|q\s*\d+\s*(?:h|hr|hrs|hours?)|x\s*\d+\s*(?:days?|weeks?|months?))\b)"
)
_THEN = re.compile(r"\b(?:then|thereafter|increase|increasing|titrate|after \d+ (?:days?|weeks?))\b")
_BARE_COUNT = re.compile(
    r"\b(?:take|takes|tk|give|chew|swallow)\s+(\d+(?:\.\d+)?|one|two|three|four)\b(?!\s*(?:mg|mcg|g|ml|/))"
)
_VOLUME_DOSE = re.compile(
    r"(?<![/\d.])(?<!=\s)(\d+(?:\.\d+)?|\.\d+)\s*(ml|cc|tsp|teaspoons?|tbsp|tablespoons?)\b(?!\s*/)" + _NOT_A_DOSE
)
_DROP_DOSE = re.compile(r"(?<![/\d.])(?<!=\s)(\d+(?:\.\d+)?)\s*(?:drops?|gtts?)\b" + _NOT_A_DOSE)
_TIME_OF_DAY = r"(?:in the |at |every |before |with )?(?:morning|am|noon|lunch|afternoon|evening|pm|night|bedtime|hs|dinner|supper)"
# A split schedule: "2 capsules in the morning and 1 capsule at night" is 3 capsules a day in 2 doses.
_SCHEDULE_PART = re.compile(r"(" + _COUNT + r")\s*" + _UNIT + r"\s*(?:po\s+|by mouth\s+)?(" + _TIME_OF_DAY + r")\b")
_COUNT_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4}
_VOLUME_UNITS = {"teaspoon": "tsp", "teaspoons": "tsp", "tablespoon": "tbsp", "tablespoons": "tbsp"}


@lru_cache(maxsize=4096)
def split_sig(folded: str) -> tuple[str, str]:
    """(product part, sig part) of a folded medication line; the sig part is '' when the line has none."""
    match = _SIG_START.search(folded)
    if not match or not folded[: match.start()].strip(" ,;:-("):
        return folded, ""
    return folded[: match.start()], folded[match.start() :]


@dataclass(frozen=True)
class Sig:
    """What a sig says, each part None when it does not say it."""

    mg: float | None = None  # mass per administration
    units: float | None = None  # dispensed units (tablets, capsules) per administration, possibly a fraction
    ml: float | None = None  # volume per administration
    times_per_day: float | None = None
    as_needed: bool = False
    bedtime: bool | None = None
    timing_stated: bool = False
    split_words: tuple[str, ...] = ()
    units_per_day: float | None = None  # set for a schedule written as doses at different times of day

    @property
    def states_dose(self) -> bool:
        """True when the sig gives a dose in any measure."""
        return self.mg is not None or self.units is not None or self.ml is not None


def _first_step(text):
    """A titration ('1 cap at bedtime x 2 weeks then 2 caps') is read at its first step."""
    match = _THEN.search(text)
    return text[: match.start()] if match and match.start() > 0 else text


def _split_schedule(step):
    """(units per day, doses per day) of a schedule written as parts at different times, or None."""
    parts = _SCHEDULE_PART.findall(step)
    if len(parts) < 2 or len({time for _, time in parts}) != len(parts):
        return None
    counts = [_count(count) for count, _ in parts]
    if None in counts:
        return None
    return sum(counts), float(len(parts))


def _count(word):
    if "/" in word:
        numerator, denominator = word.replace(" ", "").split("/")
        return float(numerator) / float(denominator) if float(denominator) else None
    try:
        return float(word)
    except ValueError:
        return WORD_NUMBERS.get(word)


@lru_cache(maxsize=4096)
def read_sig(text: str | None, strength_mg: float | None = None, drops_per_ml: float | None = None) -> Sig:
    """Read a sig as written: dose (mg, units or mL), frequency, timing and as-needed; drops become mL when the
    line states how many drops make a millilitre."""
    text = fold(text or "")
    if not text.strip():
        return Sig()
    step = _first_step(text)
    dose = parse_sig_dose(step, strength_mg)
    ml = None
    drops = _DROP_DOSE.search(step) if drops_per_ml else None
    if drops and dose.mg is None:
        dose = SigDose(split_words=dose.split_words)
        ml = float(drops.group(1)) / drops_per_ml  # type: ignore[operator]  # drops_per_ml is set when drops is
    elif dose.mg is None and dose.units is None:
        volume = _VOLUME_DOSE.search(step)
        bare = _BARE_COUNT.search(step)
        if volume:
            unit = volume.group(2)
            ml = volume_ml(float(volume.group(1)), _VOLUME_UNITS.get(unit, unit))
        elif bare:
            word = bare.group(1)
            dose = SigDose(units=float(_COUNT_WORDS.get(word, word)), split_words=dose.split_words)
    frequency = parse_frequency(step)
    schedule = _split_schedule(step) if dose.units is not None else None
    times_per_day = schedule[1] if schedule else frequency.times_per_day
    # As-needed and splitting words count anywhere in the sig, not only in its first step.
    whole_as_needed = frequency.as_needed or (step != text and parse_frequency(text).as_needed)
    whole_split = dose.split_words if step == text else parse_sig_dose(text, strength_mg).split_words
    return Sig(
        mg=dose.mg,
        units=dose.units,
        ml=ml,
        times_per_day=times_per_day,
        as_needed=whole_as_needed,
        bedtime=frequency.bedtime,
        timing_stated=frequency.timing_stated,
        split_words=tuple(sorted(set(dose.split_words) | set(whole_split))),
        units_per_day=schedule[0] if schedule else None,
    )
