"""A vocabulary rebuilt from an RxNorm release (issue 18): new brands and NDCs of known opioids are picked up,
a new ingredient is listed for review and never classified, and the change report says so."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import request, running_gunicorn

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build_vocabulary.py"
RETIRED = "1014631"  # a committed oxycodone product code, marked obsolete in the fixture release

# (RXCUI, TTY, STR, SUPPRESS): a handful of concepts in the real layout. 7804 and 32675 are the real ingredient
# codes of oxycodone and oxybutynin; the rest are made-up codes far above RxNorm's.
CONCEPTS = [
    ("7804", "IN", "oxycodone", "N"),
    ("99000002", "PIN", "oxycodone hydrochloride", "N"),
    ("99000003", "SCDC", "oxycodone hydrochloride 7.5 MG", "N"),
    ("99000004", "SCD", "oxycodone hydrochloride 7.5 MG Oral Tablet", "N"),
    ("99000004", "PSN", "oxyCODONE HCl 7.5 MG Oral Tablet", "N"),
    ("99000005", "BN", "Zyntrola", "N"),
    ("99000006", "SBD", "oxycodone hydrochloride 7.5 MG Oral Tablet [Zyntrola]", "N"),
    ("99000006", "PSN", "Zyntrola 7.5 MG Oral Tablet", "N"),
    (RETIRED, "SCD", "oxycodone hydrochloride 7.5 MG Oral Capsule", "O"),
    ("32675", "IN", "oxybutynin", "N"),
    ("99000011", "SCDC", "oxybutynin chloride 5 MG", "N"),
    ("99000012", "SCD", "oxybutynin chloride 5 MG Oral Tablet", "N"),
    ("99000013", "BN", "Oxyvessa", "N"),
    ("99000014", "SBD", "oxybutynin chloride 5 MG Oral Tablet [Oxyvessa]", "N"),
    ("99000020", "IN", "zelmorphinol", "N"),
    ("99000021", "SCDC", "zelmorphinol 10 MG", "N"),
    ("99000022", "SCD", "zelmorphinol 10 MG Oral Tablet", "N"),
    ("99000023", "BN", "Quietra", "N"),
    ("99000024", "SBD", "zelmorphinol 10 MG Oral Tablet [Quietra]", "N"),
]
# (RXCUI1, RELA, RXCUI2) once each way, as RXNREL lists them.
RELATIONS = [
    ("99000003", "ingredient_of", "7804", "has_ingredient"),
    ("99000002", "precise_ingredient_of", "99000003", "has_precise_ingredient"),
    ("99000002", "form_of", "7804", "has_form"),
    ("99000003", "constitutes", "99000004", "consists_of"),
    ("99000004", "tradename_of", "99000006", "has_tradename"),
    ("99000006", "ingredient_of", "99000005", "has_ingredient"),
    ("99000011", "ingredient_of", "32675", "has_ingredient"),
    ("99000011", "constitutes", "99000012", "consists_of"),
    ("99000012", "tradename_of", "99000014", "has_tradename"),
    ("99000014", "ingredient_of", "99000013", "has_ingredient"),
    ("99000021", "ingredient_of", "99000020", "has_ingredient"),
    ("99000021", "constitutes", "99000022", "consists_of"),
    ("99000022", "tradename_of", "99000024", "has_tradename"),
    ("99000024", "ingredient_of", "99000023", "has_ingredient"),
]
NDCS = [("99000006", "99999000101"), ("99000014", "99999000202"), ("99000024", "99999000303")]


def write_release(directory):
    """The fixture release, as the unpacked zip lays it out (rrf/ and a dated readme)."""
    rrf = directory / "rrf"
    rrf.mkdir(parents=True)
    conso = []
    for number, (rxcui, tty, text, suppress) in enumerate(CONCEPTS, 1):
        fields = [rxcui, "ENG", "", "", "", "", "Y", str(800000 + number), "", "", "", "RXNORM", tty, rxcui]
        conso.append("|".join([*fields, text, "0", suppress, "4096", ""]))
    conso.append(
        "|".join(
            ["7804", "ENG", "", "", "", "", "", "900001", "", "", "", "MTHSPL", "SU", "X", "OXY", "0", "N", "", ""]
        )
    )
    (rrf / "RXNCONSO.RRF").write_text("\n".join(conso) + "\n", encoding="utf-8")
    rel = []
    for one, rela, two, back in RELATIONS:
        rel.append(
            "|".join([one, "", "CUI", "RO", two, "", "CUI", rela, "", "", "RXNORM", "RXNORM", "", "", "N", "", ""])
        )
        rel.append(
            "|".join([two, "", "CUI", "RO", one, "", "CUI", back, "", "", "RXNORM", "RXNORM", "", "", "N", "", ""])
        )
    (rrf / "RXNREL.RRF").write_text("\n".join(rel) + "\n", encoding="utf-8")
    sat = [
        "|".join([rxcui, "", "", "", "CUI", rxcui, "", "", "NDC", "RXNORM", ndc, "N", "4096", ""])
        for rxcui, ndc in NDCS
    ]
    (rrf / "RXNSAT.RRF").write_text("\n".join(sat) + "\n", encoding="utf-8")
    sab = ["", "", "RXNORM_26AA_261102F", "RXNORM", "RxNorm work done by NLM", "RXNORM", "26AA_261102F"]
    (rrf / "RXNSAB.RRF").write_text("|".join(sab + [""] * 18 + [""]) + "\n", encoding="utf-8")
    (directory / "Readme_full_11022026.txt").write_text("RxNorm full monthly release\n", encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    """The vocabulary and report built from the committed sources plus the fixture release."""
    root = tmp_path_factory.mktemp("rxnorm")
    release = write_release(root / "RxNorm_full_11022026")
    output, report = root / "vocabulary.json", root / "report.md"
    result = subprocess.run(
        [sys.executable, str(BUILD), "--rxnorm", str(release), "--report", str(report), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(output.read_text()), report.read_text(), output


def section(report, title):
    """The text of one '## title' section of the report."""
    return report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_new_brand_and_ndc_of_a_known_opioid_are_opioids(refreshed):
    vocabulary, _, _ = refreshed
    assert vocabulary["rxcui"]["99000006"]["i"] == ["oxycodone"]
    assert vocabulary["rxcui"]["99000004"]["d"] == "oxyCODONE HCl 7.5 MG Oral Tablet"  # the prescribable name
    assert vocabulary["ndc"]["99999000101"]["i"] == ["oxycodone"]
    assert vocabulary["names"]["zyntrola"] == "oxycodone"


def test_a_new_ingredient_is_not_classified_and_its_products_are_left_out(refreshed):
    vocabulary, _, _ = refreshed
    assert "zelmorphinol" not in vocabulary["ingredients"]
    assert not {"99000022", "99000024"} & set(vocabulary["rxcui"])
    assert "99999000303" not in vocabulary["ndc"]
    assert "quietra" not in vocabulary["names"] and "zelmorphinol" not in vocabulary["names"]


def test_a_look_alike_stays_an_ordinary_medication(refreshed):
    vocabulary, _, _ = refreshed
    assert "99000014" not in vocabulary["rxcui"] and "99999000202" not in vocabulary["ndc"]
    assert vocabulary["names"]["oxybutynin"] == "oxybutynin"
    assert "oxybutynin" not in vocabulary["ingredients"]


def test_the_report_lists_each_change_for_the_pharmacist(refreshed):
    _, report, _ = refreshed
    assert "RxNorm release: **26AA_261102F**, dated 2026-11-02 (full" in report
    products = section(report, "Products (RxCUI)")
    assert "99000006 **opioids**: Zyntrola 7.5 MG Oral Tablet (oxycodone)" in products
    assert "99999000101 **opioids**" in section(report, "NDCs")
    assert "zyntrola **opioids** (oxycodone)" in section(report, "Names and brands")
    assert RETIRED in section(report, "Retired in this release")
    review = section(report, "New ingredients awaiting review")
    assert "**zelmorphinol** (RxCUI 99000020)" in review and "Quietra" in review
    assert "oxybutynin" not in products and "Oxyvessa" not in report
    summary = section(report, "Summary")
    assert "| opioids | 2 | 0 | 1 | 0 | 1 | 0 |" in summary  # the SCD and the SBD, one NDC, one brand


def test_the_vocabulary_records_its_sources(refreshed):
    vocabulary, _, _ = refreshed
    rxnorm = next(s for s in vocabulary["sources"] if s["id"] == "rxnorm")
    assert rxnorm == {
        "id": "rxnorm",
        "title": "RxNorm monthly release (full), NLM",
        "version": "26AA_261102F",
        "date": "2026-11-02",
    }
    assert {s["id"] for s in vocabulary["sources"]} == {"reference-lists", "unii", "curated", "rxnorm"}


def test_a_line_with_the_wrong_number_of_fields_stops_the_build(tmp_path):
    release = write_release(tmp_path / "release")
    with (release / "rrf" / "RXNREL.RRF").open("a") as handle:
        handle.write("1|2|3\n")
    result = subprocess.run(
        [
            sys.executable,
            str(BUILD),
            "--rxnorm",
            str(release),
            "--output",
            str(tmp_path / "v.json"),
            "--report",
            str(tmp_path / "r.md"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode != 0
    assert "RXNREL.RRF:29: 2 fields, expected 16" in result.stderr
    assert not (tmp_path / "v.json").exists()


LDN = {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"}


def test_the_service_on_the_refreshed_vocabulary_blocks_the_new_brand(refreshed):
    _, _, path = refreshed
    with running_gunicorn({"LDN_VOCABULARY_PATH": str(path)}, workers=1) as (base, _):
        _, _, ready = request(base, "/readyz")
        assert ready["vocabulary"]["version"] == refreshed[0]["version"]
        assert "rxnorm" in {s["id"] for s in ready["vocabulary"]["sources"]}
        for medication in (
            {"id": "new", "name": "Zyntrola 7.5 mg tablet", "instructions": "1 tab q6h prn pain"},
            {"id": "new", "codes": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "99999-0001-01"}]},
            {"id": "new", "codes": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "99000006"}]},
        ):
            status, _, body = request(base, "/v1/check", {"as_of": "2026-11-25", "medications": [LDN, medication]})
            assert status == 200
            alerts = {(a["code"], tuple(a["medications"])) for a in body["alerts"]}
            assert ("opioid-use", ("ldn", "new")) in alerts or ("opioid-use", ("new", "ldn")) in alerts, body
        # The unreviewed ingredient's brand is not silently ordinary: the line is reported as not understood.
        status, _, body = request(
            base, "/v1/check", {"as_of": "2026-11-25", "medications": [LDN, {"id": "q", "name": "Quietra 10 mg"}]}
        )
        assert any("q" in a["medications"] for a in body["alerts"]), body
