"""Property-based: random medication lists and patients, checked against a small independent oracle."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.checker import Checker

AS_OF = "2026-11-25"
CURRENT = {"active", "proposed", "on-hold"}

# Each product: the request fields, and what the oracle knows about it (written here, not derived from our code).
PRODUCTS = {
    "ldn": (
        {
            "name": "naltrexone 1.5 mg capsule",
            "compounded": True,
            "dose": {"value": 1.5, "unit": "mg"},
            "frequency": "QHS",
        },
        {"naltrexone", "active_naltrexone"},
    ),
    "naltrexone50": (
        {
            "name": "naltrexone 50 mg tablet",
            "dose": {"value": 1, "unit": "tablet"},
            "strength": {"value": 50, "unit": "mg"},
            "frequency": "daily",
        },
        {"naltrexone", "active_naltrexone", "full_dose"},
    ),
    "vivitrol": (
        {"name": "Vivitrol 380 mg injection"},
        {"naltrexone", "active_naltrexone", "er_injection", "full_dose"},
    ),
    "contrave": ({"name": "Contrave 8-90 mg ER tablet"}, {"naltrexone", "active_naltrexone"}),
    # Sequestered naltrexone: not a naltrexone product for any rule, only its morphine counts.
    "embeda": ({"name": "Embeda 20-0.8 mg capsule"}, {"opioid", "analgesic"}),
    "percocet": ({"name": "oxyCODONE-acetaminophen (PERCOCET) 5-325 MG per tablet"}, {"opioid", "analgesic"}),
    "tramadol": ({"name": "traMADol 50 mg tablet"}, {"opioid", "analgesic"}),
    "tylenol3": ({"name": "Tylenol #3"}, {"opioid", "analgesic"}),
    "lomotil": ({"name": "Lomotil"}, {"opioid"}),
    "fentanyl": ({"name": "fentaNYL 25 mcg/hr patch"}, {"opioid", "analgesic"}),
    "codeine_syrup": ({"name": "guaifenesin-codeine 100-10 mg/5 mL syrup"}, {"opioid", "analgesic"}),
    "butrans": ({"name": "Butrans 5 mcg/hr patch"}, {"opioid", "analgesic"}),
    "methadone": ({"name": "methadone 10 mg tablet"}, {"opioid", "analgesic", "maintenance"}),
    "suboxone": ({"name": "Suboxone 8 mg-2 mg SL film"}, {"opioid", "analgesic", "maintenance"}),
    "movantik": ({"name": "Movantik 25 mg tablet"}, {"signal"}),
    "relistor": ({"name": "Relistor 150 mg tablet"}, {"signal"}),
    "lofexidine": ({"name": "lofexidine 0.18 mg"}, {"signal"}),
    "lybalvi": ({"name": "Lybalvi 5-10 mg tablet"}, {"samidorphan"}),
    "lisinopril": ({"name": "lisinopril 10 mg tablet"}, set()),
    "metformin": ({"name": "metFORMIN 500 mg tablet"}, set()),
    "dextromethorphan": ({"name": "dextromethorphan 30 mg"}, set()),
    "narcan": ({"name": "Narcan 4 mg nasal spray"}, set()),
    "bupropion": ({"name": "buPROPion XL 150 mg"}, set()),
    "unknown1": ({"name": "Zqxprin 10 mg tablet"}, {"unknown"}),
    "unknown2": ({"name": "Blorfexamab 40 mg"}, {"unknown"}),
}
CONDITIONS = {
    "oud": {"codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.20"}]},
    "oud_remission": {"codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.21"}]},
    "ltot": {"codes": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z79.891"}]},
}

medication_lists = st.lists(
    st.tuples(
        st.sampled_from(sorted(PRODUCTS)), st.sampled_from(["active", "proposed", "on-hold", "stopped", "completed"])
    ),
    max_size=8,
)
patients = st.fixed_dictionaries(
    {
        "opioid_dependence": st.booleans(),
        "conditions": st.lists(st.sampled_from(sorted(CONDITIONS)), max_size=2, unique=True),
    }
)


def build_request(items, patient):
    """A native request from sampled products; ids are unique per position."""
    medications = []
    for index, (product, status) in enumerate(items):
        fields = dict(PRODUCTS[product][0])
        fields.update({"id": f"{product}-{index}", "status": status})
        medications.append(fields)
    return {
        "as_of": AS_OF,
        "medications": medications,
        "patient": {
            "opioid_dependence": patient["opioid_dependence"],
            "conditions": [CONDITIONS[c] for c in patient["conditions"]],
        },
    }


def oracle(items, patient):
    """The alerts the guidance implies, computed without any of the service's code."""
    meds = [(f"{product}-{i}", PRODUCTS[product][1], status in CURRENT) for i, (product, status) in enumerate(items)]
    statuses = {f"{product}-{i}": status for i, (product, status) in enumerate(items)}
    active_ntx = [m for m, tags, current in meds if current and "active_naltrexone" in tags]
    all_ntx = [m for m, tags, current in meds if current and "naltrexone" in tags]
    opioids = [m for m, tags, current in meds if current and "opioid" in tags]
    maintenance = [m for m, tags, current in meds if current and "maintenance" in tags]
    expected = set()
    full_dose = [m for m, tags, current in meds if current and "full_dose" in tags]
    # With full-dose naltrexone the labels contraindicate opioid analgesics (critical); other opioids are high.
    analgesics = [m for m, tags, current in meds if current and "analgesic" in tags]
    critical = analgesics if full_dose else []
    others = [m for m in opioids if m not in critical]
    if active_ntx and critical:
        expected.add(("opioid-use", "critical", frozenset(active_ntx + critical)))
    if active_ntx and others:
        expected.add(("opioid-use", "high", frozenset(active_ntx + others)))
    # Established full-dose naltrexone treats the use disorder: a diagnosis alone is then its indication.
    treats_oud = any(statuses[m] != "proposed" for m in full_dose)
    diagnosed = bool({"oud", "ltot"} & set(patient["conditions"]))
    dependent = patient["opioid_dependence"] or (diagnosed and not treats_oud) or maintenance
    if active_ntx and dependent:
        expected.add(("opioid-dependence", "critical", frozenset(active_ntx + maintenance)))
    currently = patient["opioid_dependence"] or diagnosed or maintenance
    if active_ntx and not currently and "oud_remission" in patient["conditions"]:
        expected.add(("opioid-dependence-history", "info", frozenset(active_ntx)))
    if len(all_ntx) >= 2:
        expected.add(("duplicate-naltrexone", "moderate", frozenset(all_ntx)))
    signals = [m for m, tags, current in meds if current and "signal" in tags]
    if active_ntx and signals:
        expected.add(("opioid-exposure-signal", "moderate", frozenset(active_ntx + signals)))
    samidorphan = [m for m, tags, current in meds if current and "samidorphan" in tags]
    if active_ntx and samidorphan:
        expected.add(("second-opioid-antagonist", "moderate", frozenset(active_ntx + samidorphan)))
    # A current medication the service cannot read beside naltrexone is a visible alert; any other unknown one
    # (no naltrexone, or not current) stays an info line.
    shown = [m for m, tags, current in meds if "unknown" in tags and current and active_ntx]
    if shown:
        expected.add(("partially-recognized-medication", "moderate", frozenset(active_ntx + shown)))
    unknown = [m for m, tags, _ in meds if "unknown" in tags and m not in shown]
    if unknown:
        expected.add(("unrecognized-medication", "info", frozenset(unknown)))
    return expected


CHECKER = Checker()


def alerts_of(request):
    from schemas.check import CheckRequestSchema

    result = CHECKER.check(CheckRequestSchema().load(request))
    return {(a["code"], a["severity"], frozenset(a["medications"])) for a in result.alerts}


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(items=medication_lists, patient=patients)
def test_engine_agrees_with_the_oracle(items, patient):
    assert alerts_of(build_request(items, patient)) == oracle(items, patient)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(items=medication_lists, patient=patients, seed=st.integers(0, 2**32 - 1))
def test_medication_order_never_changes_the_result(items, patient, seed):
    request = build_request(items, patient)
    shuffled = dict(
        request, medications=random.Random(seed).sample(request["medications"], len(request["medications"]))
    )
    assert alerts_of(request) == alerts_of(shuffled)
