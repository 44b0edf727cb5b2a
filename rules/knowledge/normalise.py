"""Turn one input medication into the facts the rules use: what it is, how it is taken, and whether it is current."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from rules.definitions import recent_extended_release
from rules.knowledge.dosing import (
    MASS_TO_MG,
    UNIT_FORMS,
    drops_per_ml,
    parse_frequency,
    parse_strengths,
    volume_ml,
)
from rules.knowledge.recognize import EMPTY, Ambiguity, reading_classes, recognize_code, recognize_text
from rules.knowledge.sig import read_sig, split_sig
from rules.knowledge.text import fold

if TYPE_CHECKING:
    from rules.knowledge.vocabulary import Vocabulary

CURRENT_STATUSES = frozenset({"active", "proposed", "on-hold"})
# Commercial oral naltrexone comes only as 25, 50 and 100 mg tablets; anything else was compounded.
COMMERCIAL_NALTREXONE_TABLETS_MG = (25.0, 50.0, 100.0)

_FORM_WORDS = {
    "tablet": ("tablet", "tablets", "tab", "tabs", "odt", "caplet"),
    "capsule": ("capsule", "capsules", "cap", "caps"),
    "film": ("film", "films"),
    "patch": ("patch", "patches", "transdermal"),
    "liquid": ("solution", "suspension", "liquid", "syrup", "elixir", "drops", "concentrate", "tincture"),
    "injection": ("injection", "injectable", "inj", "syringe", "vial", "im", "intramuscular", "depot"),
    "spray": ("spray",),
    "cream": ("cream", "gel", "ointment", "lotion"),
    "lozenge": ("lozenge", "troche"),
    "suppository": ("suppository",),
    "implant": ("implant",),
    "powder": ("powder",),
}
_FORM_OF_WORD = {word: form for form, words in _FORM_WORDS.items() for word in words}
_RELEASE_WORDS = {"er", "xr", "sr", "cr", "la", "xl", "extended", "sustained", "controlled", "12", "24", "depot"}
_LOW_DOSE_WORDS = ("ldn", "low dose", "low-dose")
_COMPOUNDED_WORDS = ("compounded", "compounding", "compound ", *_LOW_DOSE_WORDS)
_SUBLINGUAL_WORDS = ("sublingual", " sl ", "sl film", "sl tab", "under the tongue", "subl")
_BUCCAL_WORDS = ("buccal",)


@dataclass
class NormalisedMedication:
    """Everything the rules need to know about one medication, with the caller's id and text."""

    id: str
    name: str
    recognized: bool
    ingredients: tuple[str, ...]
    classes: frozenset[str]
    form: str | None = None
    release: str | None = None
    compounded: bool = False
    labelled_low_dose: bool = False  # the line itself says LDN or low-dose
    strength_mg: float | None = None  # mg per dispensed unit of the ingredient that matters (naltrexone if present)
    status: str = "active"
    current: bool = True
    proposed: bool = False
    dose_mg: float | None = None
    times_per_day: float | None = None
    daily_mg: float | None = None
    as_needed: bool = False
    bedtime: bool | None = None
    schedule_stated: bool = False
    tablet_fraction: float | None = None
    split_words: tuple[str, ...] = ()
    start_date: datetime.date | None = None
    end_date: datetime.date | None = None
    matched: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    assumptions: list[str] = field(default_factory=list)
    identified: bool = False  # something was identified (recognized also needs every word accounted for)
    expansions: tuple[tuple[str, str], ...] = ()  # (word as written, what it was read as)
    ambiguities: tuple[tuple[Ambiguity, bool], ...] = ()  # (Ambiguity, whether its readings differ for any rule)
    possible_classes: frozenset[str] = frozenset()  # classes an unresolved word could add
    # What other layers derive from the line's fields alone (the API's view of them), kept with the line's cached
    # reading and shared by every medication made from it; never anything from the id, status or dates.
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def possible_opioid(self) -> bool:
        """An unresolved word of the line could be an opioid the rules would otherwise see."""
        return "opioid_agonist" in self.possible_classes and "opioid_agonist" not in self.classes

    def has(self, klass: str) -> bool:
        """True when the medication carries a class (ingredient or product)."""
        return klass in self.classes


@lru_cache(maxsize=4096)
def _detect_form(folded):
    """The dose form named first in folded product text (the stated form comes first)."""
    for word in folded.replace("/", " ").replace(",", " ").split():
        if word in _FORM_OF_WORD:
            return _FORM_OF_WORD[word]
    return None


@lru_cache(maxsize=4096)
def _detect_release(folded):
    """Extended or immediate release, when the product text says so."""
    words = set(folded.replace("-", " ").split())
    if words & _RELEASE_WORDS or "extended release" in folded:
        return "extended"
    return "immediate" if words & {"ir", "immediate"} else None


def _recognize(vocabulary, medication):
    result = EMPTY
    for code in medication.get("codes") or ():
        found = recognize_code(vocabulary, code["system"], code["code"])
        if not found.recognized and code.get("display"):
            found = recognize_text(vocabulary, code["display"])
        result = result.merge(found)
    if medication.get("name"):
        result = result.merge(recognize_text(vocabulary, medication["name"]))
    return result


def _product_classes(vocabulary, recognition, text, form, strength):
    """Ingredient classes plus what the product as a whole is (OUD maintenance, naltrexone type)."""
    ingredients = recognition.ingredients
    classes = set()
    for ingredient in ingredients:
        classes.update(vocabulary.classes_of(ingredient))
    flags = recognition.flags
    folded = " " + fold(text) + " "
    if "methadone" in ingredients or "levomethadyl" in ingredients:
        classes.add("opioid_maintenance")
    if "buprenorphine" in ingredients:
        if "oud" in flags or (
            "pain" not in flags
            and not any(w in folded for w in _BUCCAL_WORDS)
            and form not in {"patch", "spray"}
            and (
                "naloxone" in ingredients
                or form in {"film", "implant"}
                or any(w in folded for w in _SUBLINGUAL_WORDS)
                or (form == "injection" and (strength or 0) >= 8)
                or (form == "tablet" and (strength or 0) >= 2)
            )
        ):
            classes.add("opioid_maintenance")
    if "naltrexone" in ingredients:
        classes.add("naltrexone_product")
        if "sequestered" in flags or any(
            vocabulary.classes_of(i) and "opioid_agonist" in vocabulary.classes_of(i) for i in ingredients
        ):
            classes.add("naltrexone_sequestered_combination")
        elif "bupropion" in ingredients:
            classes.add("naltrexone_bupropion_combination")
        elif "er_injection" in flags or form == "injection" or (strength or 0) >= 300:
            classes.add("naltrexone_er_injection")
        else:
            classes.add("naltrexone_oral")
        if "naltrexone_sequestered_combination" not in classes:
            # Sequestered naltrexone is released only if the product is crushed: it does not block opioids.
            classes.add("naltrexone_active")
    if "naloxone" in ingredients and "opioid_agonist" in classes:
        classes.add("opioid_with_antagonist")
    if classes & {"peripheral_opioid_antagonist", "opioid_withdrawal_treatment"}:
        classes.add("implies_opioid_exposure")
    if "samidorphan" in ingredients:
        classes.add("samidorphan_product")
    return frozenset(classes)


def _strength_mg(medication, recognition, strengths):
    """mg (or mg/mL) per unit of the ingredient that matters: the stated strength, else from the text."""
    stated = medication.get("strength")
    if stated:
        unit = stated["unit"].lower()
        if unit in MASS_TO_MG:
            return stated["value"] * MASS_TO_MG[unit], "mg"
        if unit in {"mg/ml", "mcg/ml"}:
            return stated["value"] * (0.001 if unit.startswith("mcg") else 1.0), "mg/mL"
        return None, unit
    mass = [(v, u) for v, u in strengths if u in {"mg", "mg/mL"}]
    if not mass:
        return None, None
    if len(mass) == 1 or len(recognition.ingredients) == 1 and len({v for v, _ in mass}) == 1:
        return mass[0]
    if "naltrexone" in recognition.ingredients and len(mass) == len(recognition.ingredients):
        # Combination strengths are written in ingredient order ("naltrexone-bupropion 8-90 mg").
        return mass[recognition.ingredients.index("naltrexone")]
    return None, None


def _structured_dose(medication, strength, strength_unit):
    """(mg, units) of the structured dose field, or None when it is absent."""
    dose = medication.get("dose")
    if not dose:
        return None
    unit = dose["unit"].lower()
    if unit in MASS_TO_MG:
        mg = dose["value"] * MASS_TO_MG[unit]
        return mg, (mg / strength if strength and strength_unit == "mg" else None)
    if unit in UNIT_FORMS:
        return (dose["value"] * strength if strength and strength_unit == "mg" else None), dose["value"]
    millilitres = volume_ml(dose["value"], unit)
    if millilitres is not None and strength and strength_unit == "mg/mL":
        return millilitres * strength, None
    return None, None


def _sig_dose(sig, strength, strength_unit):
    """(mg, units) of a dose read from a sig, or None when the sig gives none."""
    if not sig.states_dose:
        return None
    per_unit = strength if strength and strength_unit == "mg" else None
    if sig.mg is not None:
        return sig.mg, (sig.mg / per_unit if per_unit else None)
    if sig.units is not None:
        return (sig.units * per_unit if per_unit else None), sig.units
    if strength and strength_unit == "mg/mL":
        return sig.ml * strength, None
    return None, None


def _fmt(mg):
    return f"{mg:g} mg"


def _dose(medication, strength, strength_unit, form, sigs, assumptions):
    """mg per administration and the fraction of a dispensed unit it takes; the first source that states it wins."""
    stated = [("dose", _structured_dose(medication, strength, strength_unit))]
    stated += [(field, _sig_dose(sig, strength, strength_unit)) for field, sig in sigs]
    stated = [(field, value) for field, value in stated if value is not None]
    if stated:
        field, (mg, units) = stated[0]
        for other, (other_mg, _units) in stated[1:]:
            if mg is not None and other_mg is not None and abs(mg - other_mg) > 1e-6:
                assumptions.append(f"dose {_fmt(mg)} from {field}; {other} says {_fmt(other_mg)}")
                break
        return mg, units
    if strength and strength_unit == "mg" and form in {"tablet", "capsule", "film", "lozenge", None}:
        assumptions.append("one unit per dose (no dose stated)")
        return strength, 1.0
    return None, None


def _frequency(medication, sigs, assumptions):
    """Times a day, as-needed and bedtime: structured fields first, then the instructions, then the name's sig."""
    sources = []
    if medication.get("frequency") or medication.get("timing"):
        sources.append(("frequency", parse_frequency(medication.get("frequency"), medication.get("timing"))))
    sources += list(sigs)
    times, times_field = None, None
    for where, source in sources:
        if source.times_per_day is None:
            continue
        if times is None:
            times, times_field = source.times_per_day, where
        elif abs(source.times_per_day - times) > 1e-6:
            assumptions.append(f"{times:g} times a day from {times_field}; {where} says {source.times_per_day:g}")
            break
    bedtime = next((source.bedtime for _, source in sources if source.bedtime is not None), None)
    if times is not None and times > 1:
        bedtime = False
    as_needed = bool(medication.get("as_needed")) or any(source.as_needed for _, source in sources)
    timing_stated = any(source.timing_stated for _, source in sources)
    return times, bedtime, as_needed, timing_stated


def _weigh_ambiguities(vocabulary, recognition):
    """(ingredients every reading shares, [(ambiguity, open)], classes an open ambiguity could add, classes
    every reading of a closed ambiguity has)."""
    shared, weighed, possible, common_classes = [], [], set(), set()
    for ambiguity in recognition.ambiguities:
        readings = ambiguity.readings
        class_sets = [reading_classes(vocabulary, r) for r in readings]
        is_open = len(set(class_sets)) > 1 or ambiguity.kind in ("spelling", "sig")
        weighed.append((ambiguity, is_open))
        common = set(readings[0].ingredients).intersection(*(r.ingredients for r in readings[1:]))
        shared.extend(i for i in readings[0].ingredients if i in common)
        if is_open:
            possible.update(frozenset().union(*class_sets) - frozenset.intersection(*class_sets))
        else:
            common_classes.update(class_sets[0])
    return tuple(dict.fromkeys(shared)), weighed, frozenset(possible), frozenset(common_classes)


def _code_label(medication):
    """A line named only by an unknown code is shown by its code, never by a bare id."""
    return ", ".join(f"code {c['code']} ({c['system']})" for c in medication.get("codes") or ())


# The fields that say what a line is and how it is taken. What is read from them depends on nothing else (not the
# caller's id, status or dates, not as_of), so one reading serves every request that sends the same line: order
# lines recur across patients, and reading one (every word, its sig, its dose) is most of a check's cost.
LINE_FIELDS = (
    "name",
    "codes",
    "dose",
    "strength",
    "form",
    "frequency",
    "timing",
    "as_needed",
    "compounded",
    "instructions",
)
LINE_CACHE_SIZE = 8192  # distinct lines kept per process (each a few kB)


_SCALARS = frozenset({str, float, int, bool})


def _frozen(value: Any) -> Any:
    """A validated field's value as a hashable key (objects as sorted pairs, lists as tuples)."""
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value


class _Line:
    """A line's fields, hashed and compared by their values only (the key of the reading cache)."""

    __slots__ = ("fields", "key")

    def __init__(self, medication: Mapping[str, Any]) -> None:
        # Only these fields reach the reading, so a field the reading used but the key missed cannot exist.
        self.fields = fields = {name: medication[name] for name in LINE_FIELDS if name in medication}
        self.key = tuple(
            (name, value if value.__class__ in _SCALARS else _frozen(value)) for name, value in fields.items()
        )

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Line) and self.key == other.key


def normalise_medication(
    vocabulary: Vocabulary, medication: Mapping[str, Any], index: int, as_of: datetime.date
) -> NormalisedMedication:
    """Normalise one validated input medication (a dict from the request schema)."""
    line = _read_line(vocabulary, _Line(medication))
    assumptions = list(line.assumptions)
    status = medication.get("status") or "active"
    end_date = medication.get("end_date")
    start_date = medication.get("start_date")
    dispensed_on = medication.get("dispensed_on")
    if dispensed_on is not None:
        # A fill covers dispensed_on .. dispensed_on + days_supply - 1: past exposure once that has run out,
        # current while it covers as_of. The last day of supply is when the last dose was due.
        start_date = start_date or dispensed_on
        days_supply = medication.get("days_supply")
        if end_date is None and days_supply:
            end_date = dispensed_on + datetime.timedelta(days=days_supply - 1)
        elif end_date is None:
            assumptions.append(f"dispensed on {dispensed_on.isoformat()} with no days' supply: treated as current")
    ended = end_date is not None and end_date < as_of and status in CURRENT_STATUSES
    if ended:
        assumptions.append("treated as completed (end date before as_of)")
    given = dispensed_on or end_date or start_date
    still_blocking = recent_extended_release(status, line.classes, given, as_of)
    if still_blocking:
        assumptions.append(
            "counted as current: an extended-release injection given "
            f"{(as_of - given).days} day(s) before as_of "  # type: ignore[operator]  # still_blocking: given is a date
            "still blocks opioids within its dosing interval"
        )
    med_id = medication.get("id", str(index))
    return _copy(
        line,
        id=med_id,
        name=line.name or med_id,  # a line with nothing readable is shown by its id
        status="completed" if ended else status,
        current=(status in CURRENT_STATUSES and not ended) or still_blocking,
        proposed=status == "proposed",
        start_date=start_date,
        end_date=end_date,
        assumptions=assumptions,
    )


def _copy(reading: NormalisedMedication, **changes: Any) -> NormalisedMedication:
    """The reading with the list's fields set: dataclasses.replace re-runs __init__ over every field, five times
    the cost of copying the attributes (and this runs once per medication per request)."""
    med = object.__new__(NormalisedMedication)
    med.__dict__.update(reading.__dict__, **changes)
    return med


@lru_cache(maxsize=LINE_CACHE_SIZE)
def _read_line(vocabulary: Vocabulary, line: _Line) -> NormalisedMedication:
    """What one line's fields say, as a medication without an id, status or dates (those are the list's)."""
    medication = line.fields
    name = medication.get("name") or ""
    displays = " ".join(c.get("display", "") for c in medication.get("codes") or ())
    recognition = _recognize(vocabulary, medication)
    shared, weighed, possible, common_classes = _weigh_ambiguities(vocabulary, recognition)
    ingredients = tuple(dict.fromkeys(recognition.ingredients + shared))
    if shared:
        recognition = replace(recognition, ingredients=ingredients)
    name_product, name_sig = split_sig(fold(name))
    product_text = " ".join(filter(None, (name_product, displays, *recognition.displays, medication.get("form"))))
    folded_product = fold(product_text)
    form = _detect_form(fold(medication["form"]) + " " + folded_product if medication.get("form") else folded_product)
    if form is None and name_sig:
        form = _detect_form(name_sig)
    strengths = parse_strengths(" ".join(filter(None, (name_product, displays, *recognition.displays))))
    strength, strength_unit = _strength_mg(medication, recognition, strengths)
    sig_text = medication.get("instructions") or ""
    per_unit = strength if strength_unit == "mg" else None
    drops = drops_per_ml(name + " " + sig_text)
    sigs = [
        (f, read_sig(text, per_unit, drops)) for f, text in (("instructions", sig_text), ("name", name_sig)) if text
    ]
    assumptions: list[str] = []
    dose_mg, fraction = _dose(medication, strength, strength_unit, form, sigs, assumptions)
    split_words = tuple(sorted({w for _, sig in sigs for w in sig.split_words}))
    times, bedtime, as_needed, timing_stated = _frequency(medication, sigs, assumptions)
    stated_times = times
    if times is None and bedtime:
        times = 1.0  # "at bedtime" alone is once a day
    if times is None and dose_mg is not None and not as_needed:
        times = 1.0
        assumptions.append("once daily (no frequency stated)")
    daily = dose_mg * times if dose_mg is not None and times is not None else None
    schedule = next((sig for _, sig in sigs if sig.units_per_day), None)
    if schedule and per_unit and not medication.get("dose") and times == schedule.times_per_day:
        daily = schedule.units_per_day * per_unit  # doses that differ by time of day
    classes = common_classes | _product_classes(
        vocabulary, recognition, product_text + " " + sig_text + " " + name_sig, form, strength
    )
    described = fold(" ".join((name, sig_text, displays)))
    compounded = bool(medication.get("compounded")) or any(w in described for w in _COMPOUNDED_WORDS)
    labelled_low_dose = any(w in described for w in _LOW_DOSE_WORDS)
    if "naltrexone_oral" in classes and not compounded:
        if form in {"capsule", "liquid", "cream", "lozenge", "powder"} or (
            strength is not None and strength_unit == "mg" and strength not in COMMERCIAL_NALTREXONE_TABLETS_MG
        ):
            compounded = True
            assumptions.append("compounded (no commercial naltrexone product has this form or strength)")
    identified = bool(ingredients) or any(not is_open for _, is_open in weighed)
    complete = not recognition.unmatched and not any(is_open for _, is_open in weighed)
    return NormalisedMedication(
        id="",
        name=name or displays or " ".join(recognition.displays) or _code_label(medication),
        recognized=identified and complete,
        identified=identified,
        ingredients=ingredients,
        classes=classes,
        form=form,
        release=_detect_release(folded_product),
        compounded=compounded,
        labelled_low_dose=labelled_low_dose,
        strength_mg=strength if strength_unit == "mg" else None,
        dose_mg=dose_mg,
        times_per_day=times,
        daily_mg=daily,
        as_needed=as_needed,
        bedtime=bedtime,
        schedule_stated=stated_times is not None or timing_stated,
        tablet_fraction=fraction if form == "tablet" else None,
        split_words=split_words,
        matched=recognition.matched,
        unmatched=recognition.unmatched,
        assumptions=assumptions,
        expansions=recognition.expansions,
        ambiguities=tuple(weighed),
        possible_classes=possible - classes,
    )
