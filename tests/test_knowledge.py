"""Medication knowledge: every opioid recognized, no look-alike called an opioid, ordinary drugs known, codes exact."""

import csv
import datetime
import json
from pathlib import Path

import pytest

from rules.knowledge.dosing import parse_frequency, parse_sig_dose, parse_strengths
from rules.knowledge.normalise import normalise_medication
from rules.knowledge.recognize import NDC, RXNORM, normalise_ndc, recognize_code, recognize_text
from rules.knowledge.vocabulary import VocabularyError, load_vocabulary

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = datetime.date(2026, 11, 25)


@pytest.fixture(scope="module")
def vocabulary():
    return load_vocabulary()


def rows(name):
    with open(FIXTURES / name, encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def is_opioid(vocabulary, ingredients):
    return any("opioid_agonist" in vocabulary.classes_of(i) for i in ingredients)


def opioid_ingredients(vocabulary, ingredients):
    return {i for i in ingredients if "opioid_agonist" in vocabulary.classes_of(i)}


def test_every_opioid_name_in_the_vocabulary_is_recognized_as_an_opioid(vocabulary):
    """Enumerate the vocabulary's opioid brands and generics and feed each back as a name."""
    opioid_names = [
        key for key, value in vocabulary.names.items() if is_opioid(vocabulary, value.partition("|")[0].split(";"))
    ]
    assert len(opioid_names) > 300
    misses = [name for name in opioid_names if not is_opioid(vocabulary, recognize_text(vocabulary, name).ingredients)]
    assert misses == []


def test_every_reference_opioid_product_resolves_by_rxcui_and_by_display(vocabulary):
    misses = []
    for code, record in vocabulary.rxcui.items():
        if not is_opioid(vocabulary, record["i"]):
            continue
        if not is_opioid(vocabulary, recognize_code(vocabulary, RXNORM, code).ingredients):
            misses.append(code)
        if not is_opioid(vocabulary, recognize_text(vocabulary, record["d"]).ingredients):
            misses.append(record["d"])
    assert misses == []


def test_every_cdc_ndc_resolves_to_an_opioid(vocabulary):
    opioid_ndcs = [ndc for ndc, record in vocabulary.ndc.items() if is_opioid(vocabulary, record["i"])]
    assert len(opioid_ndcs) >= 14_549
    misses = [ndc for ndc in opioid_ndcs if not is_opioid(vocabulary, recognize_code(vocabulary, NDC, ndc).ingredients)]
    assert misses == []


@pytest.mark.parametrize("row", rows("opioid_strings.tsv"), ids=lambda r: r["name"])
def test_opioid_product_strings(vocabulary, row):
    recognition = recognize_text(vocabulary, row["name"])
    expected = set(filter(None, row["opioid_ingredients"].split(";")))
    assert expected <= opioid_ingredients(vocabulary, recognition.ingredients), recognition


@pytest.mark.parametrize("row", rows("lookalikes.tsv"), ids=lambda r: r["name"])
def test_lookalikes_are_never_opioids(vocabulary, row):
    recognition = recognize_text(vocabulary, row["name"])
    assert not is_opioid(vocabulary, recognition.ingredients), recognition


def test_top_300_prescribed_drugs_are_recognized(vocabulary):
    """At least 98% of the 300 most prescribed US drugs (fixture) are recognized."""
    drugs = rows("top300.tsv")
    assert len(drugs) == 300
    missed = [r["name"] for r in drugs if not recognize_text(vocabulary, r["name"]).recognized]
    assert len(missed) <= 6, missed


@pytest.mark.parametrize("row", rows("naltrexone_strings.tsv"), ids=lambda r: r["name"])
def test_naltrexone_products_and_their_type(vocabulary, row):
    med = normalise_medication(vocabulary, {"name": row["name"]}, 0, AS_OF)
    assert "naltrexone" in med.ingredients
    expected_class = {
        "oral_tablet": "naltrexone_oral",
        "compounded_ldn": "naltrexone_oral",
        "er_injection": "naltrexone_er_injection",
        "bupropion_combo": "naltrexone_bupropion_combination",
        "opioid_combo": "naltrexone_sequestered_combination",
    }[row["product_type"]]
    assert expected_class in med.classes
    if row["product_type"] == "compounded_ldn":
        assert med.compounded


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("oxycodone/acetaminophen", "acetaminophen/oxycodone"),
        ("hydrocodone-APAP", "APAP-hydrocodone"),
        ("buprenorphine and naloxone", "naloxone with buprenorphine"),
        ("codeine + promethazine", "promethazine w/ codeine"),
    ],
)
def test_drug_order_does_not_matter(vocabulary, first, second):
    assert set(recognize_text(vocabulary, first).ingredients) == set(recognize_text(vocabulary, second).ingredients)


@pytest.mark.parametrize(
    ("text", "ingredients"),
    [
        ("Tylenol #3", {"acetaminophen", "codeine"}),
        ("Tylenol No. 4", {"acetaminophen", "codeine"}),
        ("Tylenol with Codeine #2", {"acetaminophen", "codeine"}),
        ("Tylenol 3", {"acetaminophen", "codeine"}),
        ("Tylenol", {"acetaminophen"}),
        ("Tylenol 500 mg", {"acetaminophen"}),
        ("oxyCODONE-acetaminophen (PERCOCET) 5-325 MG per tablet", {"oxycodone", "acetaminophen"}),
        ("Lomotil", {"diphenoxylate", "atropine"}),
        ("Demerol 50 mg", {"meperidine"}),
        ("Suboxone 8 mg-2 mg film", {"buprenorphine", "naloxone"}),
        ("bup/nx 8/2 SL", {"buprenorphine", "naloxone"}),
        ("Embeda", {"morphine", "naltrexone"}),
        ("kratom", {"mitragynine"}),
        ("LDN 4.5 mg", {"naltrexone"}),
        ("potassium chloride ER 20 mEq", {"potassium chloride"}),
    ],
)
def test_named_products(vocabulary, text, ingredients):
    assert set(recognize_text(vocabulary, text).ingredients) == ingredients


@pytest.mark.parametrize(
    "text",
    [
        "bupropion",
        "Narcan",
        "naloxone",
        "dextromethorphan",
        "Fioricet",
        "Tylenol PM",
        "lidocaine 5% patch",
        "loratadine",
        "hydroxyzine 25 mg",
        "methocarbamol",
    ],
)
def test_common_lookalikes(vocabulary, text):
    recognition = recognize_text(vocabulary, text)
    assert recognition.recognized and not is_opioid(vocabulary, recognition.ingredients)


def test_unknown_text_is_not_recognized(vocabulary):
    assert not recognize_text(vocabulary, "Zqxprin 10 mg tablet").recognized


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("63459-0300-42", ("63459030042",)),
        ("63459030042", ("63459030042",)),
        ("1234-5678-90", ("01234567890",)),
        ("12345-678-90", ("12345067890",)),
        ("12345-6789-0", ("12345678900",)),
        ("12-34", None),
        ("abc", None),
    ],
)
def test_ndc_shapes(code, expected):
    result = normalise_ndc(code)
    assert (result if result is None else result[:1] if len(result) == 1 else result) == expected or (
        expected and expected[0] in result
    )


def test_vivitrol_by_hyphenated_ndc(vocabulary):
    found = recognize_code(vocabulary, NDC, "65757-300-01")
    assert found.ingredients == ("naltrexone",) and "er_injection" in found.flags


def test_naltrexone_and_naloxone_ingredient_rxcuis(vocabulary):
    assert recognize_code(vocabulary, RXNORM, "7243").ingredients == ("naltrexone",)
    assert recognize_code(vocabulary, RXNORM, "7242").ingredients == ("naloxone",)
    assert not recognize_code(vocabulary, RXNORM, "0").recognized


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("oxycodone-acetaminophen 5-325 MG", [(5.0, "mg"), (325.0, "mg")]),
        ("buprenorphine 8 mg-naloxone 2 mg", [(8.0, "mg"), (2.0, "mg")]),
        ("fentanyl 25 mcg/hr patch", [(25.0, "mcg/hr")]),
        ("naltrexone 1 mg/mL suspension", [(1.0, "mg/mL")]),
        ("morphine 10 mg/5 mL", [(2.0, "mg/mL")]),
        ("naltrexone 4.5mg", [(4.5, "mg")]),
    ],
)
def test_strengths_in_names(text, expected):
    assert list(parse_strengths(text)) == expected


@pytest.mark.parametrize(
    ("text", "times", "bedtime"),
    [
        ("daily", 1, None),
        ("QD", 1, None),
        ("once daily", 1, None),
        ("BID", 2, False),
        ("twice daily", 2, False),
        ("q12h", 2, False),
        ("TID", 3, False),
        ("q8h", 3, False),
        ("QID", 4, False),
        ("q6h", 4, False),
        ("every 6 hours as needed", 4, False),
        ("QHS", 1, True),
        ("at bedtime", 1, True),
        ("nightly", 1, True),
        ("every 4-6 hours", 6, False),
        ("every morning", 1, False),
        ("weekly", 1 / 7, None),
    ],
)
def test_frequencies(text, times, bedtime):
    frequency = parse_frequency(text)
    assert frequency.times_per_day == pytest.approx(times) and frequency.bedtime is bedtime


@pytest.mark.parametrize(
    ("sig", "mg", "units"),
    [
        ("take 4.5 mg at bedtime", 4.5, None),
        ("1/4 tablet", None, 0.25),
        ("half a tablet", None, 0.5),
        ("cut into 10 pieces, take one piece", None, 0.1),
        ("take one tablet", None, 1.0),
        ("dissolve one 50 mg tablet in 50 mL water and take 4.5 mL", 4.5, None),
    ],
)
def test_sig_doses(sig, mg, units):
    dose = parse_sig_dose(sig, 50.0)
    assert dose.mg == (pytest.approx(mg) if mg else None) and dose.units == (pytest.approx(units) if units else None)


def test_daily_dose_from_structured_fields(vocabulary):
    med = normalise_medication(
        vocabulary,
        {
            "name": "naltrexone",
            "dose": {"value": 1.5, "unit": "tablet"},
            "strength": {"value": 3, "unit": "mg"},
            "frequency": "BID",
            "compounded": True,
        },
        0,
        AS_OF,
    )
    assert med.dose_mg == 4.5 and med.daily_mg == 9.0 and med.bedtime is False
    liquid = normalise_medication(
        vocabulary,
        {
            "name": "naltrexone oral suspension",
            "dose": {"value": 4.5, "unit": "mL"},
            "strength": {"value": 1, "unit": "mg/mL"},
            "frequency": "QHS",
        },
        0,
        AS_OF,
    )
    assert liquid.daily_mg == 4.5 and liquid.compounded and liquid.bedtime is True


def test_missing_or_corrupt_vocabulary_refuses_to_load(tmp_path):
    with pytest.raises(VocabularyError):
        load_vocabulary(tmp_path / "missing.json")
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"version": "x", "names": {')
    with pytest.raises(VocabularyError):
        load_vocabulary(corrupt)
    empty = tmp_path / "empty.json"
    empty.write_text(
        json.dumps(
            {
                "version": "x",
                "names": {},
                "rxcui": {},
                "ndc": {},
                "ingredient_rxcui": {},
                "ingredients": {},
                "conditions": {},
            }
        )
    )
    with pytest.raises(VocabularyError):
        load_vocabulary(empty)


def test_misspellings_get_suggestions_but_stay_unrecognized(check):
    body = check(
        {
            "as_of": "2026-11-25",
            "medications": [
                {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"},
                {"id": "typo", "name": "oxycodne 5 mg tablet"},
            ],
        }
    )
    view = {m["id"]: m for m in body["medications"]}["typo"]
    assert view["recognized"] is False and "oxycodone" in view["suggestions"]
    # Fuzzy spelling never decides opioid-use, but a name whose closest names are opioids is not a quiet info line.
    assert [a["code"] for a in body["alerts"]] == ["possible-opioid"]
    assert "oxycodone" in body["alerts"][0]["rationale"]
