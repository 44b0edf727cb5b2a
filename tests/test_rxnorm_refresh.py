"""A vocabulary rebuilt from RxNorm releases (issue 18): new brands and NDCs of known opioids are picked up, a new
ingredient is listed for review and never classified, what a later release retires is kept, and the change report
says so.

The tests write their own releases in the published RRF layout (RxNorm Technical Documentation, section 12):
November as a full release zip unpacks (rrf/ with every file, prescribe/rrf/ with the prescribable subset), then
December and January, each built against the month before's vocabulary as a monthly refresh is.
"""

import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from service import create_app
from tests.contract import Contract

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build_vocabulary.py"
sys.path.insert(0, str(ROOT / "scripts"))
import rxnorm_release  # noqa: E402  (the release reader, beside the build script)
import vocabulary_report  # noqa: E402

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
LDN = {"id": "ldn", "name": "naltrexone 4.5 mg capsule", "compounded": True, "frequency": "QHS"}
# Committed oxycodone products (reference lists) that the fixture releases retire or reclassify.
OBSOLETE_IN_NOVEMBER = "1014631"  # marked SUPPRESS=O
REMAPPED_IN_NOVEMBER = "1049727"  # in RXNCUI.RRF, moved to the new SCD
REMAPPED_IN_DECEMBER = "1113314"  # in December's RXNCUI.RRF only
RECLASSIFIED = "1049686"  # an oxycodone tablet in the lists; the release says naloxone
REMAPPED_IN_JANUARY = "1049502"  # in January's RXNCUI.RRF, moved to a code that is itself retired
RETIRED_TARGET = "99100099"  # never current in these releases: retired, moved to the new oxycodone tablet
COMMITTED_NDC = "00054039041"  # an oxycodone solution in the committed lists; January puts it on an ordinary product
JANUARY = 13  # the month after December, as release() counts


class Rrf:
    """Rows of one release's RRF files, each field in its documented position and every line ending in '|'."""

    def __init__(self):
        self.files = {"RXNCONSO.RRF": [], "RXNREL.RRF": [], "RXNSAT.RRF": [], "RXNSAB.RRF": [], "RXNCUI.RRF": []}
        self.atoms = 900000
        self.components = set()  # SCDCs written so far: a drug that shares one links to it

    def _add(self, name, fields, width):
        assert len(fields) == width, (name, fields)
        self.files[name].append("|".join(fields) + "|")

    def concept(self, rxcui, tty, text, *more, suppress="N", sab="RXNORM"):
        """Atoms of one concept: RXCUI LAT TS LUI STT SUI ISPREF RXAUI SAUI SCUI SDUI SAB TTY CODE STR SRL SUPPRESS
        CVF (CVF 4096: the prescribable content)."""
        for term_type, string in ((tty, text), *more):
            self.atoms += 1
            code = rxcui if sab == "RXNORM" else f"X{self.atoms}"
            cvf = "4096" if suppress == "N" else ""
            fields = [rxcui, "ENG", "", "", "", "", "", str(self.atoms), "", "", "", sab, term_type, code, string]
            self._add("RXNCONSO.RRF", [*fields, "", suppress, cvf], 18)

    def link(self, source, rela, target, inverse, suppress="N"):
        """ "source RELA target" and its inverse. A row reads "RXCUI2 has RELA to RXCUI1": RXCUI1 RXAUI1 STYPE1 REL
        RXCUI2 RXAUI2 STYPE2 RELA RUI SRUI SAB SL DIR RG SUPPRESS CVF."""
        for one, two, name in ((target, source, rela), (source, target, inverse)):
            fields = [one, "", "CUI", "RO", two, "", "CUI", name, "", "", "RXNORM", "RXNORM", "", "", suppress, ""]
            self._add("RXNREL.RRF", fields, 16)

    def ndc(self, rxcui, value, suppress="N", sab="RXNORM"):
        """RXCUI LUI SUI RXAUI STYPE CODE ATUI SATUI ATN SAB ATV SUPPRESS CVF."""
        fields = [
            rxcui,
            "",
            "",
            "",
            "CUI",
            rxcui,
            "",
            "",
            "NDC",
            sab,
            value,
            suppress,
            "4096" if suppress == "N" else "",
        ]
        self._add("RXNSAT.RRF", fields, 13)

    def version(self, sab, sver):
        """RXNSAB: VCUI RCUI VSAB RSAB SON SF SVER … (25 fields)."""
        fields = ["", "", f"{sab}_{sver}", sab, f"{sab} source", sab, sver, *[""] * 14, "Y", "", "", ""]
        self._add("RXNSAB.RRF", fields, 25)

    def retire(self, rxcui, last_version, moved_to):
        """RXNCUI: CUI1 VER_START VER_END CARDINALITY CUI2."""
        self._add("RXNCUI.RRF", [rxcui, "RXNORM_10AA_100802F", last_version, "1", moved_to], 5)

    def write(self, folder, names=None, drop=()):
        """Write the files (or those named) to folder, leaving out every row that mentions a code in drop."""
        folder.mkdir(parents=True)
        for name, rows in self.files.items():
            if names is None or name in names:
                kept = [r for r in rows if not set(r.split("|")) & set(drop)]
                (folder / name).write_text("".join(row + "\n" for row in kept), encoding="utf-8")
        return folder


def drug(rrf, scd, components, name, psn=None, suppress="N"):
    """An SCD made of SCDCs ((code, name, ingredient RxCUI) each; one already written is linked to, not repeated)."""
    rrf.concept(scd, "SCD", name, *([("PSN", psn)] if psn else []), suppress=suppress)
    for scdc, scdc_name, ingredient in components:
        if scdc not in rrf.components:
            rrf.components.add(scdc)
            rrf.concept(scdc, "SCDC", scdc_name)
            rrf.link(ingredient, "ingredient_of", scdc, "has_ingredient")
        rrf.link(scdc, "constitutes", scd, "consists_of")


def brand(rrf, sbd, scd, bn, name, psn=None, suppress="N"):
    """An SBD of an SCD under a brand name (a BN concept created with the SBD)."""
    rrf.concept(sbd, "SBD", name, *([("PSN", psn)] if psn else []), suppress=suppress)
    rrf.link(scd, "tradename_of", sbd, "has_tradename", suppress=suppress)
    rrf.link(bn, "ingredient_of", sbd, "has_ingredient", suppress=suppress)


OXY = ("99100003", "oxycodone hydrochloride 7.5 MG", "7804")
ZELMORPHINOL = ("99100091", "zelmorphinol 10 MG", "99100090")
CODEINE = ("99100011", "codeine phosphate 2 MG/ML", "2670")
GUAIFENESIN = ("99100012", "guaifenesin 20 MG/ML", "5032")
CODEINE_SOLUTION = "codeine phosphate 2 MG/ML / guaifenesin 20 MG/ML Oral Solution"
HYDROCODONE = ("99100050", "hydrocodone bitartrate 7.5 MG", "5489")
ACETAMINOPHEN_300 = ("99100051", "acetaminophen 300 MG", "161")
HYDRELTA_GENERIC = "acetaminophen 300 MG / hydrocodone bitartrate 7.5 MG Oral Tablet"
HYDRELTA_PSN = "Hydrelta 7.5 MG / 300 MG Oral Tablet"
BUPRENORPHINE_6 = ("99100060", "buprenorphine 6 MG", "1819")
NALOXONE_1_5 = ("99100061", "naloxone 1.5 MG", "7242")
BUNEXA_GENERIC = "buprenorphine 6 MG / naloxone 1.5 MG Sublingual Tablet"


def release(month):
    """The November (11), December (12) or January (13) release: a handful of concepts, each standing for one thing
    the build must do. What December changes stays so in January."""
    rrf = Rrf()
    rrf.concept("7804", "IN", "oxycodone", ("SY", "dihydrohydroxycodeinone"))
    rrf.concept("99100002", "PIN", "oxycodone hydrochloride")
    rrf.link("99100002", "form_of", "7804", "has_form")
    for rxcui, name in (("32675", "oxybutynin"), ("2670", "codeine"), ("5032", "guaifenesin"), ("7242", "naloxone")):
        rrf.concept(rxcui, "IN", name)
    rrf.concept("99100090", "IN", "zelmorphinol")  # an ingredient no list knows
    # A new oxycodone tablet, its NDC written 4-4-2 (RxNorm writes 11 digits; the service reads both), a new brand.
    drug(rrf, "99100004", [OXY], "oxycodone hydrochloride 7.5 MG Oral Tablet", "oxyCODONE HCl 7.5 MG Oral Tablet")
    rrf.link("99100002", "precise_ingredient_of", OXY[0], "has_precise_ingredient")
    if month < JANUARY:
        rrf.ndc("99100004", "9999-0001-02")
    retired = "O" if month >= 12 else "N"  # December retires the brand
    rrf.concept("99100005", "BN", "Zyntrola", suppress=retired)
    brand(
        rrf,
        "99100006",
        "99100004",
        "99100005",
        f"{OXY[1]} Oral Tablet [Zyntrola]",
        "Zyntrola 7.5 MG Oral Tablet",
        retired,
    )
    rrf.ndc("99100006", "99999000101", suppress=retired)
    if month == 11:  # a brand in the full release only (not in prescribe/rrf), gone in December
        rrf.concept("99100007", "BN", "Oxyfullona")
        brand(rrf, "99100008", "99100004", "99100007", f"{OXY[1]} Oral Tablet [Oxyfullona]")
        rrf.ndc("99100008", "99999000401")
    # A look-alike that is not an opioid.
    drug(rrf, "99100032", [("99100031", "oxybutynin chloride 5 MG", "32675")], "oxybutynin chloride 5 MG Oral Tablet")
    rrf.concept("99100033", "BN", "Oxyvessa")
    brand(rrf, "99100034", "99100032", "99100033", "oxybutynin chloride 5 MG Oral Tablet [Oxyvessa]")
    rrf.ndc("99100034", "99999000202")
    if month == JANUARY:
        # The release moves the oxycodone tablet's NDC, and an NDC of the committed lists, to this ordinary product:
        # an NDC is one package at a time, and the release says which.
        rrf.ndc("99100034", "09999000102")
        rrf.ndc("99100034", COMMITTED_NDC)
    # The new ingredient alone, and with oxycodone.
    drug(rrf, "99100092", [ZELMORPHINOL], "zelmorphinol 10 MG Oral Tablet")
    rrf.concept("99100093", "BN", "Quietra")
    brand(rrf, "99100094", "99100092", "99100093", "zelmorphinol 10 MG Oral Tablet [Quietra]")
    rrf.ndc("99100094", "99999000303")
    combination = "oxycodone hydrochloride 7.5 MG / zelmorphinol 10 MG Oral Tablet"
    # December reads it without oxycodone: still current, no longer classified, so it leaves (removed, not retired).
    drug(rrf, "99100095", [OXY, ZELMORPHINOL] if month == 11 else [ZELMORPHINOL], combination)
    rrf.concept("99100096", "BN", "Zelvantra")
    brand(rrf, "99100097", "99100095", "99100096", f"{combination} [Zelvantra]")
    rrf.ndc("99100097", "99999000505")
    # Mucinex: guaifenesin tablets, and one brand extension with codeine.
    drug(rrf, "99100014", [CODEINE, GUAIFENESIN], CODEINE_SOLUTION)
    drug(
        rrf, "99100015", [("99100013", "guaifenesin 600 MG", "5032")], "guaifenesin 600 MG Extended Release Oral Tablet"
    )
    rrf.concept("99100016", "BN", "Mucinex")
    brand(rrf, "99100017", "99100014", "99100016", f"{CODEINE_SOLUTION} [Mucinex]")
    brand(rrf, "99100018", "99100015", "99100016", "guaifenesin 600 MG Extended Release Oral Tablet [Mucinex]")
    # A brand sold as oxycodone alone and with acetaminophen: every reading is an opioid, so it reads as what they
    # share (oxycodone), and each product's own name and code say the rest.
    rrf.concept("161", "IN", "acetaminophen")
    drug(
        rrf,
        "99100042",
        [OXY, ("99100041", "acetaminophen 325 MG", "161")],
        f"acetaminophen 325 MG / {OXY[1]} Oral Tablet",
    )
    rrf.concept("99100043", "BN", "Oxydual")
    brand(rrf, "99100044", "99100004", "99100043", f"{OXY[1]} Oral Tablet [Oxydual]")
    brand(rrf, "99100045", "99100042", "99100043", f"acetaminophen 325 MG / {OXY[1]} Oral Tablet [Oxydual]")
    if month >= 12:  # an ordinary brand of the committed lists (Robitussin: guaifenesin) extended to codeine
        rrf.concept("99100019", "BN", "Robitussin")
        brand(rrf, "99100020", "99100014", "99100019", f"{CODEINE_SOLUTION} [Robitussin]")
    # A committed code the release reads differently.
    drug(
        rrf,
        RECLASSIFIED,
        [("99100021", "naloxone hydrochloride 20 MG", "7242")],
        "naloxone hydrochloride 20 MG Oral Tablet",
    )
    # Retirements: a committed code marked obsolete, and committed codes moved to the new tablet.
    rrf.concept(OBSOLETE_IN_NOVEMBER, "SCD", "oxycodone hydrochloride 7.5 MG Oral Capsule", suppress="O")
    rrf.retire(REMAPPED_IN_NOVEMBER, "RXNORM_26AA_261005F", "99100004")
    if month >= 12:
        rrf.retire(REMAPPED_IN_DECEMBER, "RXNORM_26AB_261102F", "99100004")
    if month == JANUARY:  # a committed code moved to a code RxNorm has itself retired since
        rrf.retire(REMAPPED_IN_JANUARY, "RXNORM_26AB_261207F", RETIRED_TARGET)
        rrf.retire(RETIRED_TARGET, "RXNORM_26AB_261207F", "99100004")
    # A hydrocodone brand: its product is obsolete in December, and January reuses the name for acetaminophen alone.
    rrf.concept("5489", "IN", "hydrocodone")
    drug(rrf, "99100052", [HYDROCODONE, ACETAMINOPHEN_300], HYDRELTA_GENERIC)
    rrf.concept("99100053", "BN", "Hydrelta")
    obsolete = "O" if month >= 12 else "N"
    brand(rrf, "99100054", "99100052", "99100053", f"{HYDRELTA_GENERIC} [Hydrelta]", HYDRELTA_PSN, obsolete)
    rrf.ndc("99100054", "99999000606", suppress=obsolete)
    if month == JANUARY:
        drug(rrf, "99100056", [("99100055", "acetaminophen 500 MG", "161")], "acetaminophen 500 MG Oral Tablet")
        brand(rrf, "99100057", "99100056", "99100053", "acetaminophen 500 MG Oral Tablet [Hydrelta]")
        rrf.ndc("99100057", "99999000707")
    # A buprenorphine with naloxone brand (OUD treatment): January retires it and reuses the name for a buccal film
    # for pain.
    rrf.concept("1819", "IN", "buprenorphine")
    drug(rrf, "99100062", [BUPRENORPHINE_6, NALOXONE_1_5], BUNEXA_GENERIC)
    rrf.concept("99100063", "BN", "Bunexa")
    obsolete = "O" if month == JANUARY else "N"
    brand(rrf, "99100064", "99100062", "99100063", f"{BUNEXA_GENERIC} [Bunexa]", None, obsolete)
    rrf.ndc("99100064", "99999000808", suppress=obsolete)
    if month == JANUARY:
        drug(rrf, "99100066", [("99100065", "buprenorphine 0.3 MG", "1819")], "buprenorphine 0.3 MG Buccal Film")
        brand(rrf, "99100067", "99100066", "99100063", "buprenorphine 0.3 MG Buccal Film [Bunexa]")
        rrf.ndc("99100067", "99999000909")
        # An opioid whose name the vocabulary knows only as an ordinary one (UNII): left out, and listed as such.
        rrf.concept("99100070", "IN", "phenazocine")
        drug(rrf, "99100072", [("99100071", "phenazocine 5 MG", "99100070")], "phenazocine 5 MG Oral Tablet")
    # Other sources' rows are not NLM's: never read.
    rrf.concept("99100004", "SCD", "OXYCODONE 7.5MG TAB (other source)", sab="VANDF")
    rrf.ndc("99100004", "12345678901", sab="VANDF")
    rrf.version("RXNORM", {11: "26AB_261102F", 12: "26AB_261207F", JANUARY: "27AA_270104F"}[month])
    rrf.version("MTHSPL", "2026_10_27")
    return rrf


def run_build(*args):
    return subprocess.run(
        [sys.executable, str(BUILD), *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def releases(tmp_path_factory):
    """November as the full release zip unpacks (rrf/ and prescribe/rrf/), December's full release, December's
    prescribable release (its folder named by NLM, no RXNSAB.RRF), and January's full release."""
    root = tmp_path_factory.mktemp("releases")
    november = root / "RxNorm_full_11022026"
    release(11).write(november / "rrf")
    # The prescribable subset as the full zip carries it: three files, and without the full-only brand.
    release(11).write(november / "prescribe" / "rrf", ("RXNCONSO.RRF", "RXNREL.RRF", "RXNSAT.RRF"), ("99100008",))
    december = root / "RxNorm_full_12072026"
    release(12).write(december / "rrf")
    prescribable = root / "RxNorm_full_prescribe_12072026"
    release(12).write(prescribable / "rrf", ("RXNCONSO.RRF", "RXNREL.RRF", "RXNSAT.RRF"))
    january = root / "RxNorm_full_01042027"
    release(JANUARY).write(january / "rrf")
    return {"november": november, "december": december, "prescribable": prescribable, "january": january, "root": root}


@pytest.fixture(scope="module")
def built(releases, tmp_path_factory):
    """November built against the committed vocabulary, December against November's, January against December's,
    then a build without a release against January's; and December again against November's, after a pharmacist
    reviewed November's new ingredient (a copy of curated.yaml that classifies it). Outputs go to folders that do
    not exist yet."""
    out = tmp_path_factory.mktemp("built")
    curated = yaml.safe_load((ROOT / "scripts" / "vocabulary" / "curated.yaml").read_text(encoding="utf-8"))
    curated["ingredients"]["zelmorphinol"] = ["opioid_agonist", "opioid_analgesic"]
    reviewed = out / "curated-reviewed.yaml"
    reviewed.write_text(yaml.safe_dump(curated), encoding="utf-8")
    paths = {}
    for name, rxnorm, baseline, *more in (
        ("november", releases["november"], None),
        ("december", releases["december"], "november"),
        ("january", releases["january"], "december"),
        ("replay", None, "january"),
        ("reviewed", releases["december"], "november", "--curated", reviewed),
    ):
        output, report = out / name / "vocabulary" / "vocabulary.json", out / "reports" / name / "report.md"
        args = ["--output", output, "--report", report, *more]
        args += ["--rxnorm", rxnorm] if rxnorm else []
        args += ["--baseline", paths[baseline][0]] if baseline else []
        result = run_build(*args)
        assert result.returncode == 0, result.stderr
        paths[name] = (output, report)
    return {
        name: {"path": output, "vocabulary": json.loads(output.read_text()), "report": report.read_text()}
        for name, (output, report) in paths.items()
    }


def section(report, title, level=2):
    """The text of one '## title' (or '### title') section of the report."""
    marker = "#" * level + " "
    text = report.split(f"\n{marker}{title}\n", 1)[1]
    return text.split(f"\n{marker}", 1)[0].split("\n## ", 1)[0]


def summary_table(report):
    """The summary table as {group: {column: count}}."""
    lines = section(report, "Summary").strip().splitlines()
    header = lines[0].strip("| ").split(" | ")
    rows = (line.strip("| ").split(" | ") for line in lines[2:])
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows}


@functools.cache
def contract():
    return Contract.load()


def client_for(path):
    return create_app({"VOCABULARY_PATH": str(path)}).test_client()


def check(client, medication, as_of="2026-12-10"):
    """The medication as the service read it, and the codes of the alerts naming it (with LDN current)."""
    response = client.post("/v1/check", json={"as_of": as_of, "medications": [LDN, {"id": "x", **medication}]})
    assert response.status_code == 200, response.get_data(as_text=True)
    contract().validate_response("/v1/check", "post", response)  # what the service shows conforms to openapi.yaml
    body = response.get_json()
    view = next(m for m in body["medications"] if m["id"] == "x")
    return view, {a["code"] for a in body["alerts"] if "x" in a["medications"]}, body


# --- The release folder (defect 1) and its version and date (defect 6) ---


def test_a_full_release_is_read_from_rrf_not_from_its_prescribable_copy(releases):
    november = releases["november"]
    for given in (november, november / "rrf"):
        read = rxnorm_release.read_release(given)
        assert (read.directory, read.subset, read.folder) == (november / "rrf", "full", "rrf/")
        assert "99100008" in read.tty  # only rrf/ has it
    subset = rxnorm_release.read_release(november / "prescribe" / "rrf")
    assert (subset.subset, subset.folder) == ("prescribable", "prescribe/rrf/") and "99100008" not in subset.tty
    # The prescribable copy has no RXNSAB.RRF: its version comes from the release folder's name, not from rrf/.
    assert (subset.version, subset.date) == ("11022026", "2026-11-02")


def test_a_release_nested_one_folder_too_deep_is_refused_with_the_folder_to_give(releases, tmp_path):
    with pytest.raises(rxnorm_release.ReleaseError) as error:
        rxnorm_release.read_release(releases["root"])
    assert "no RXNCONSO.RRF" in str(error.value) and str(releases["november"] / "rrf") in str(error.value)


def test_version_and_date_come_from_rxnsab_then_the_folder_name(releases):
    november = rxnorm_release.read_release(releases["november"])
    assert (november.version, november.date) == ("26AB_261102F", "2026-11-02")
    assert november.stated_by == {"version": "RXNSAB.RRF (SVER)", "date": "RXNSAB.RRF (SVER)"}
    prescribable = rxnorm_release.read_release(releases["prescribable"])
    assert (prescribable.version, prescribable.date, prescribable.subset) == ("12072026", "2026-12-07", "prescribable")


def test_a_release_that_states_no_version_or_date_stops_until_they_are_given(releases, tmp_path):
    unnamed = tmp_path / "rxnorm-latest"
    release(11).write(unnamed / "rrf", ("RXNCONSO.RRF", "RXNREL.RRF", "RXNSAT.RRF"))
    with pytest.raises(rxnorm_release.ReleaseError) as error:
        rxnorm_release.read_release(unnamed)
    assert "--release-version" in str(error.value) and "--release-date" in str(error.value)
    stated = rxnorm_release.read_release(unnamed, "26AB_261102F", "2026-11-02")
    assert (stated.version, stated.date) == ("26AB_261102F", "2026-11-02")
    assert stated.stated_by == {"version": "--release-version", "date": "--release-date"}
    with pytest.raises(rxnorm_release.ReleaseError, match="contradicts the release's date 2026-11-02"):
        rxnorm_release.read_release(releases["november"], None, "2026-11-09")
    with pytest.raises(rxnorm_release.ReleaseError, match="YYYY-MM-DD"):
        rxnorm_release.read_release(unnamed, "v", "11/02/2026")
    # The build says the same, before it writes anything.
    result = run_build("--rxnorm", unnamed, "--output", tmp_path / "v.json", "--report", tmp_path / "r.md")
    assert result.returncode != 0 and "--release-date YYYY-MM-DD" in result.stderr, result.stderr
    assert not (tmp_path / "v.json").exists()


def test_the_vocabulary_records_its_sources(built):
    november = built["november"]["vocabulary"]
    assert november["sources"][-1] == {
        "id": "rxnorm",
        "title": "RxNorm monthly release, NLM: full release (rrf/)",
        "version": "26AB_261102F",
        "date": "2026-11-02",
    }
    assert [s["id"] for s in november["sources"]] == ["reference-lists", "unii", "curated", "rxnorm"]
    assert "99100008" in november["rxcui"]  # the brand only the full release's rrf/ carries
    report = built["november"]["report"]
    assert "RxNorm release: **26AB_261102F**, dated 2026-11-02 (full release, read from `" in report
    assert "/RxNorm_full_11022026/rrf`; version from RXNSAB.RRF (SVER)" in report
    client = client_for(built["november"]["path"])
    for path in ("/readyz", "/v1/rules"):
        response = client.get(path)
        contract().validate_response(path, "get", response)
        shown = response.get_json()["vocabulary"]
        assert shown == {"version": november["version"], "sources": november["sources"]}


# --- New products, brands and NDCs; new ingredients (defect 2) ---


def test_new_brand_and_ndc_of_a_known_opioid_are_opioids(built):
    vocabulary = built["november"]["vocabulary"]
    assert vocabulary["rxcui"]["99100006"]["i"] == ["oxycodone"]
    assert vocabulary["rxcui"]["99100004"]["d"] == "oxyCODONE HCl 7.5 MG Oral Tablet"  # the prescribable name
    assert vocabulary["ndc"]["99999000101"]["i"] == ["oxycodone"]
    assert vocabulary["names"]["zyntrola"] == "oxycodone"
    assert vocabulary["names"]["dihydrohydroxycodeinone"] == "oxycodone"  # an ingredient synonym
    assert "12345678901" not in vocabulary["ndc"]  # another source's NDC


def test_an_ndc_the_release_writes_with_hyphens_is_stored_as_the_service_reads_it(built):
    vocabulary = built["november"]["vocabulary"]
    assert vocabulary["ndc"]["09999000102"]["i"] == ["oxycodone"] and "9999-0001-02" not in vocabulary["ndc"]
    view, alerts, _ = check(client_for(built["november"]["path"]), {"codes": [{"system": NDC, "code": "9999-0001-02"}]})
    assert view["ingredients"] == ["oxycodone"] and "opioid-use" in alerts


def test_a_new_ingredient_is_not_classified_and_its_own_products_are_left_out(built):
    vocabulary = built["november"]["vocabulary"]
    assert "zelmorphinol" not in vocabulary["ingredients"] and vocabulary["unreviewed"] == ["zelmorphinol"]
    assert not {"99100092", "99100094"} & set(vocabulary["rxcui"]) and "99999000303" not in vocabulary["ndc"]
    assert "quietra" not in vocabulary["names"] and "zelmorphinol" not in vocabulary["names"]


def test_an_opioid_product_with_a_new_ingredient_is_an_opioid_product(built):
    vocabulary = built["november"]["vocabulary"]
    for code in ("99100095", "99100097"):
        assert vocabulary["rxcui"][code]["i"] == ["oxycodone", "zelmorphinol"]
    assert vocabulary["ndc"]["99999000505"]["i"] == ["oxycodone", "zelmorphinol"]
    assert vocabulary["names"]["zelvantra"] == "oxycodone;zelmorphinol"
    review = section(built["november"]["report"], "New ingredients awaiting review")
    assert "**zelmorphinol** (RxCUI 99100090), in 4 products:" in review and "more" not in review
    for code in ("99100092", "99100094"):
        assert f"  - {code} zelmorphinol 10 MG Oral Tablet" in review
    assert "  - 99100097 oxycodone hydrochloride 7.5 MG / zelmorphinol 10 MG Oral Tablet [Zelvantra]: in the " in review
    assert "vocabulary as **opioids** because of oxycodone; zelmorphinol reported as not understood" in review
    assert "Oxyvessa" not in built["november"]["report"]


def test_the_service_raises_opioid_use_for_it_and_says_the_new_ingredient_is_not_understood(built):
    client = client_for(built["november"]["path"])
    for medication in (
        {"name": "Zelvantra 7.5-10 mg tablet", "instructions": "1 tab q6h prn pain"},
        {"name": "oxycodone hydrochloride 7.5 MG / zelmorphinol 10 MG Oral Tablet"},
        {"codes": [{"system": NDC, "code": "99999-0005-05"}]},
        {"codes": [{"system": RX, "code": "99100097"}]},
    ):
        view, alerts, body = check(client, medication)
        assert "opioid-use" in alerts, (medication, body["alerts"])
        # Honest about what it does not know: the new ingredient is not shown as an ingredient (of no class), but
        # as not understood, and a partially-recognized alert names it.
        assert view["ingredients"] == ["oxycodone"] and "zelmorphinol" in view["unmatched_terms"], view
        assert view["recognized"] is False and "partially-recognized-medication" in alerts
        partial = next(a for a in body["alerts"] if a["code"] == "partially-recognized-medication")
        assert '"zelmorphinol" not understood' in partial["rationale"]
    # A line naming only the new ingredient's brand is not silently ordinary: reported as not understood.
    view, alerts, _ = check(client, {"name": "Quietra 10 mg"})
    assert view["recognized"] is False and alerts


def test_a_look_alike_stays_an_ordinary_medication(built):
    vocabulary = built["november"]["vocabulary"]
    assert "99100034" not in vocabulary["rxcui"] and "99999000202" not in vocabulary["ndc"]
    assert vocabulary["names"]["oxybutynin"] == "oxybutynin" and "oxybutynin" not in vocabulary["ingredients"]


# --- A brand shared by products of different ingredients (defect 5) ---


def test_a_brand_extended_to_a_codeine_product_is_ambiguous_not_codeine(built):
    november, december = built["november"]["vocabulary"], built["december"]["vocabulary"]
    assert "mucinex" not in november["names"]
    readings = {tuple(r["i"]) for r in november["ambiguous"]["mucinex"]}
    assert readings == {("guaifenesin",), ("codeine", "guaifenesin")}
    # A brand of the committed lists (guaifenesin) whose only product in the release has codeine: the lists'
    # reading is kept beside the release's.
    assert "robitussin" not in december["names"]
    assert {tuple(r["i"]) for r in december["ambiguous"]["robitussin"]} == readings
    client = client_for(built["december"]["path"])
    for line in ("Mucinex 600 mg ER tablet", "Robitussin 10 mL"):
        view, alerts, _ = check(client, {"name": line})
        assert "opioid-use" not in alerts and "possible-opioid" in alerts, (line, view, alerts)
        assert view["ingredients"] == ["guaifenesin"]  # what every reading shares
    # The product's own name and code still say codeine.
    for medication in ({"name": f"{CODEINE_SOLUTION} [Mucinex]"}, {"codes": [{"system": RX, "code": "99100017"}]}):
        view, alerts, _ = check(client, medication)
        assert "opioid-use" in alerts and "codeine" in view["ingredients"], medication


def test_the_report_shows_the_shared_brand_and_each_reclassification_side_by_side(built):
    report = built["november"]["report"]
    shared = section(report, "Brands shared by products of different ingredients")
    assert "- **Mucinex** (`mucinex`): **ambiguous**" in shared
    assert f"  - codeine, guaifenesin: 99100017 {CODEINE_SOLUTION} [Mucinex]" in shared
    assert "  - guaifenesin: 99100018 guaifenesin 600 MG Extended Release Oral Tablet [Mucinex]" in shared
    assert "- **Oxydual** (`oxydual`): read as the ingredients all its readings share: **oxycodone**." in shared
    assert built["november"]["vocabulary"]["names"]["oxydual"] == "oxycodone"
    names = section(section(report, "Names and brands"), "Reclassified", 3)
    assert (
        "| mucinex | ordinary medications: guaifenesin | **opioids**: ambiguous: could be Mucinex (codeine + "
        "guaifenesin) or Mucinex (guaifenesin) |" in names
    )
    products = section(section(report, "Products (RxCUI)"), "Reclassified", 3)
    assert "| code | before | after |" in products
    assert (
        f"| {RECLASSIFIED} | opioids: oxycodone hydrochloride 20 MG Oral Tablet (oxycodone) | **opioid antagonists**: "
        "naloxone hydrochloride 20 MG Oral Tablet (naloxone) |" in products
    )
    summary = summary_table(report)
    assert summary["opioid antagonists"]["products reclassified"] == "1"
    assert summary["opioids"]["names reclassified"] == "1"  # mucinex


# --- Retirements: kept, and reported once (defects 3 and 4) ---


def test_the_first_refresh_reports_the_retirements_it_finds_with_their_successors(built):
    retired = section(section(built["november"]["report"], "Products (RxCUI)"), "Retired since the baseline (kept)", 3)
    assert f"- {REMAPPED_IN_NOVEMBER} opioids: " in retired
    assert "retired in RXNCUI.RRF; RxNorm moved it to 99100004 oxyCODONE HCl 7.5 MG Oral Tablet" in retired
    assert f"- {OBSOLETE_IN_NOVEMBER} opioids: " in retired and "marked obsolete (SUPPRESS=O)" in retired
    vocabulary = built["november"]["vocabulary"]
    assert {OBSOLETE_IN_NOVEMBER, REMAPPED_IN_NOVEMBER} <= set(vocabulary["rxcui"])  # kept
    assert vocabulary["rxnorm"]["retired"]["rxcui"][REMAPPED_IN_NOVEMBER] == {
        "date": "2026-11-02",
        "why": "retired",
        "to": ["99100004"],
    }


def test_what_a_later_release_retires_is_kept_and_reported_as_retired_not_removed(built):
    december = built["december"]["vocabulary"]
    # Zyntrola is obsolete in December; Oxyfullona is not in it at all. Both were learned from November.
    for code, ndc, name in (("99100006", "99999000101", "zyntrola"), ("99100008", "99999000401", "oxyfullona")):
        assert december["rxcui"][code]["i"] == ["oxycodone"] and december["ndc"][ndc]["i"] == ["oxycodone"]
        assert december["names"][name] == "oxycodone"
    retired = december["rxnorm"]["retired"]
    assert retired["rxcui"]["99100006"] == {"date": "2026-12-07", "why": "obsolete"}
    assert retired["rxcui"]["99100008"] == {"date": "2026-12-07", "why": "absent"}
    assert retired["ndc"]["99999000101"]["why"] == "obsolete" and retired["names"]["zyntrola"]["why"] == "absent"
    report = built["december"]["report"]
    # Removed is only what the release still has and no longer classifies, with the reason.
    removed = section(section(report, "Products (RxCUI)"), "Removed", 3).strip().splitlines()
    assert [line.split(" ")[1] for line in removed] == ["99100095", "99100097"]
    assert removed[0].endswith("Oral Tablet (zelmorphinol), which has no ingredient in a reviewed class")
    assert section(section(report, "NDCs"), "Removed", 3).strip().startswith("- 99999000505 opioids: ")
    removed = section(section(report, "Names and brands"), "Removed", 3).strip()
    assert removed.startswith("- zelvantra opioids: ")
    assert removed.endswith("still in this release, with no product in a reviewed class")
    assert "99100095" not in december["rxcui"] and "zelvantra" not in december["names"]
    products = section(section(report, "Products (RxCUI)"), "Retired since the baseline (kept)", 3)
    assert "- 99100006 opioids: Zyntrola 7.5 MG Oral Tablet (oxycodone): marked obsolete (SUPPRESS=O)" in products
    assert "- 99100008 opioids: " in products and ": no longer in this release" in products
    assert "- 99999000401 opioids: " in section(section(report, "NDCs"), "Retired since the baseline (kept)", 3)
    names = section(section(report, "Names and brands"), "Retired since the baseline (kept)", 3)
    assert "- zyntrola opioids: oxycodone: no current product of this release has this name" in names
    assert "- oxyfullona " in names
    client = client_for(built["december"]["path"])
    for medication in ({"name": "Zyntrola 7.5 mg tablet"}, {"codes": [{"system": NDC, "code": "99999-0004-01"}]}):
        assert "opioid-use" in check(client, medication)[1], medication


def test_retirements_already_recorded_are_not_reported_again(built):
    retired = section(section(built["december"]["report"], "Products (RxCUI)"), "Retired since the baseline (kept)", 3)
    assert f"- {REMAPPED_IN_DECEMBER} opioids: " in retired
    assert "retired in RXNCUI.RRF; RxNorm moved it to 99100004 oxyCODONE HCl 7.5 MG Oral Tablet" in retired
    assert REMAPPED_IN_NOVEMBER not in retired and OBSOLETE_IN_NOVEMBER not in retired  # November's news
    summary = summary_table(built["december"]["report"])
    assert summary["opioids"]["products retired"] == "4"  # Zyntrola, Oxyfullona, Hydrelta, the December remapping
    assert summary["opioids"]["products removed"] == "2"  # the combination no longer read with oxycodone
    # Recorded with the date RxNorm first said so.
    assert built["december"]["vocabulary"]["rxnorm"]["retired"]["rxcui"][REMAPPED_IN_NOVEMBER]["date"] == "2026-11-02"


def test_a_build_without_a_release_keeps_what_the_releases_taught(built):
    # The committed vocabulary after a refresh is still what `make vocabulary` builds (test_vocabulary_build): what
    # the releases retired, the brands' retired readings, and the NDCs a release moved out of the vocabulary.
    assert built["replay"]["path"].read_bytes() == built["january"]["path"].read_bytes()
    layer = built["replay"]["vocabulary"]["rxnorm"]
    assert layer["ndc_left_out"] == {"09999000102": "99100034", COMMITTED_NDC: "99100034"}
    assert layer["brands"]["hydrelta"] == ["99100054"] and "ambiguous" in layer and "hydrelta" in layer["ambiguous"]
    assert "the RxNorm layer of the baseline is kept as it was" in built["replay"]["report"]


def test_a_release_older_than_the_baseline_is_refused(built, releases, tmp_path):
    args = ["--rxnorm", releases["november"], "--baseline", built["december"]["path"]]
    result = run_build(*args, "--output", tmp_path / "v.json", "--report", tmp_path / "r.md")
    assert result.returncode != 0 and "is older than the one the baseline" in result.stderr, result.stderr
    assert not (tmp_path / "v.json").exists()


# --- A name never silently changes meaning; an NDC follows the release (defects A to C of the January review) ---


def test_a_retired_opioid_brand_reused_for_a_non_opioid_keeps_its_opioid_reading(built):
    # Hydrelta (hydrocodone with acetaminophen) is obsolete in December; January names acetaminophen alone so.
    december, january = built["december"]["vocabulary"], built["january"]["vocabulary"]
    assert december["names"]["hydrelta"] == "acetaminophen;hydrocodone"  # retired, kept
    assert "hydrelta" not in january["names"]
    readings = {tuple(r["i"]): r for r in january["ambiguous"]["hydrelta"]}
    assert set(readings) == {("acetaminophen", "hydrocodone"), ("acetaminophen",)}
    # A strength may rule out only the reading that reads as less (the ordinary product beside the opioid one).
    assert (readings[("acetaminophen",)]["min_mg"], readings[("acetaminophen",)]["max_mg"]) == (500, 500)
    assert "min_mg" not in readings[("acetaminophen", "hydrocodone")]
    assert january["rxcui"]["99100054"]["i"] == ["acetaminophen", "hydrocodone"]  # the retired product, kept
    # An old list's line of the retired product, with naltrexone: opioid-use in December and still in January.
    for month in ("december", "january"):
        view, alerts, _ = check(client_for(built[month]["path"]), {"name": "Hydrelta 7.5-300 mg tablet"})
        assert "opioid-use" in alerts and "hydrocodone" in view["ingredients"], (month, view, alerts)
    client = client_for(built["january"]["path"])
    # The name alone, or with the new product's strength, could be either: could be an opioid, never ordinary.
    for line in ("Hydrelta 500 mg tablet", "Hydrelta tablet"):
        view, alerts, _ = check(client, {"name": line})
        assert "possible-opioid" in alerts and "opioid-use" not in alerts, (line, view, alerts)
    # Each product's own name and code say which it is.
    view, alerts, _ = check(client, {"name": "acetaminophen 500 MG Oral Tablet [Hydrelta]"})
    assert view["recognized"] and view["ingredients"] == ["acetaminophen"] and not alerts, (view, alerts)
    assert "opioid-use" in check(client, {"codes": [{"system": RX, "code": "99100054"}]})[1]
    report = built["january"]["report"]
    names = section(report, "Names and brands")
    assert "hydrelta" not in section(names, "Removed", 3)
    assert (
        "| hydrelta | opioids: acetaminophen, hydrocodone | **opioids**: ambiguous: could be Hydrelta (acetaminophen) "
        "[strength 500] or Hydrelta (acetaminophen + hydrocodone) |" in section(names, "Reclassified", 3)
    )
    shared = section(report, "Brands shared by products of different ingredients")
    assert "- **Hydrelta** (`hydrelta`): **ambiguous**" in shared
    assert (
        "  - acetaminophen: 99100057 acetaminophen 500 MG Oral Tablet [Hydrelta]; ruled out by a line stating a "
        "strength (mg or mg/mL) other than 500\n" in shared
    )
    assert (
        f"  - acetaminophen, hydrocodone: 99100054 {HYDRELTA_GENERIC} [Hydrelta] (retired: kept, old lists still "
        "name it)\n" in shared
    )


def test_a_retired_oud_brand_reused_for_a_pain_product_keeps_its_oud_reading(built):
    # Bunexa (buprenorphine with naloxone, sublingual: OUD treatment) is obsolete in January, and the name is
    # reused for a buprenorphine buccal film for pain. An old list's line of it keeps the critical
    # opioid-dependence alert: its strength (6 mg) is not the film's, so it is not read as the film, and the film's
    # reading is the one a strength may rule out, because it reads as less (buprenorphine without naloxone). The
    # retired reading, which reads as more, is never ruled out: the film's own line still reads as either.
    december, january = built["december"]["vocabulary"], built["january"]["vocabulary"]
    assert december["names"]["bunexa"] == "buprenorphine;naloxone|oud"
    readings = {tuple(r["i"]): r for r in january["ambiguous"]["bunexa"]}
    assert set(readings) == {("buprenorphine", "naloxone"), ("buprenorphine",)}
    assert (readings[("buprenorphine",)]["min_mg"], readings[("buprenorphine",)]["max_mg"]) == (0.3, 0.3)
    assert "min_mg" not in readings[("buprenorphine", "naloxone")]
    for month in ("december", "january"):
        client = client_for(built[month]["path"])
        for line in ("Bunexa 6-1.5 mg SL tablet", "Bunexa 6-1.5 mg tablet"):
            view, alerts, _ = check(client, {"name": line})
            assert {"opioid-dependence", "opioid-use"} <= alerts, (month, line, view, alerts)
            assert view["ingredients"] == ["buprenorphine", "naloxone"], (month, line, view)
    view, alerts, _ = check(client_for(built["january"]["path"]), {"name": "Bunexa 0.3 mg buccal film"})
    assert "opioid-use" in alerts and "partially-recognized-medication" in alerts and not view["recognized"]
    report = built["january"]["report"]
    assert (
        "| bunexa | OUD treatment: buprenorphine, naloxone [oud] | **opioids**: ambiguous: could be Bunexa "
        "(buprenorphine) [strength 0.3] or Bunexa (buprenorphine + naloxone) |"
        in section(section(report, "Names and brands"), "Reclassified", 3)
    )
    shared = section(report, "Brands shared by products of different ingredients")
    assert (
        f"  - buprenorphine, naloxone: 99100064 {BUNEXA_GENERIC} [Bunexa] (retired: kept, old lists still name it)\n"
        in shared
    )


def test_an_ndc_the_release_moves_to_an_ordinary_product_follows_it(built):
    # January puts the oxycodone tablet's NDC (learned in November) and an NDC of the committed lists on an
    # oxybutynin product, which the vocabulary leaves out: they leave with it, and are not read as oxycodone.
    december, january = built["december"]["vocabulary"], built["january"]["vocabulary"]
    for ndc in ("09999000102", COMMITTED_NDC):
        assert december["ndc"][ndc]["i"] == ["oxycodone"] and ndc not in january["ndc"], ndc
        assert ndc not in january["rxnorm"]["retired"]["ndc"]
    assert january["rxcui"]["99100004"]["i"] == ["oxycodone"]  # the product itself is still an oxycodone tablet
    client = client_for(built["january"]["path"])
    for code in ("9999-0001-02", COMMITTED_NDC):
        view, alerts, _ = check(client, {"codes": [{"system": NDC, "code": code}]})
        assert "opioid-use" not in alerts and view["ingredients"] == [], (code, view, alerts)
    ndcs = section(built["january"]["report"], "NDCs")
    for heading in ("Retired since the baseline (kept)", "Removed"):
        assert "09999000102" not in section(ndcs, heading, 3) and COMMITTED_NDC not in section(ndcs, heading, 3)
    moved = (
        "| **ordinary medications**: oxybutynin chloride 5 MG Oral Tablet [Oxyvessa] (oxybutynin): this release puts "
        "it on RxCUI 99100034, which has no ingredient in a reviewed class; left out of the vocabulary with its "
        "product, so no longer read as before |"
    )
    reclassified = section(ndcs, "Reclassified", 3)
    assert f"| 09999000102 | opioids: oxyCODONE HCl 7.5 MG Oral Tablet (oxycodone) {moved}" in reclassified
    assert f"| {COMMITTED_NDC} | opioids: OXYCODONE HCL 1 MG/ML Solution (oxycodone) {moved}" in reclassified
    assert summary_table(built["january"]["report"])["ordinary medications"]["NDCs reclassified"] == "2"


def test_the_report_shows_each_side_in_its_own_review_state(built):
    # December rebuilt after a pharmacist classified November's new ingredient: it is "not reviewed" only in what
    # November read, never beside what the vocabulary reads now.
    vocabulary = built["reviewed"]["vocabulary"]
    assert "unreviewed" not in vocabulary and vocabulary["ingredients"]["zelmorphinol"] == [
        "opioid_agonist",
        "opioid_analgesic",
    ]
    report = built["reviewed"]["report"]
    products = section(report, "Products (RxCUI)")
    added = section(products, "Added", 3)
    assert "- 99100092 **opioids**: zelmorphinol 10 MG Oral Tablet (zelmorphinol)\n" in added
    assert "not reviewed" not in added
    assert (
        "| 99100095 | opioids: oxycodone hydrochloride 7.5 MG / zelmorphinol 10 MG Oral Tablet (oxycodone, zelmorphinol "
        "(not reviewed)) | **opioids**: oxycodone hydrochloride 7.5 MG / zelmorphinol 10 MG Oral Tablet "
        "(zelmorphinol) |" in section(products, "Reclassified", 3)
    )
    assert section(report, "New ingredients awaiting review").strip().endswith("\n\n- none")


# --- What the report asks the reviewer to check (the low-severity findings of the January review) ---


def test_a_full_release_in_a_folder_named_as_the_prescribable_one_is_read_as_the_full_release(tmp_path):
    folder = tmp_path / "RxNorm_full_prescribe_11022026"
    release(11).write(folder / "rrf")
    read = rxnorm_release.read_release(folder)
    assert read.subset == "full" and "full release" in read.describe()
    assert read.notes == [
        f"the folder RxNorm_full_prescribe_11022026 is named as the Current Prescribable Content, but {folder / 'rrf'} "
        "holds RXNSAB.RRF and RXNCUI.RRF, which only the full release has: read as the full release"
    ]


def test_a_folder_named_for_another_date_is_read_as_rxnsab_says_and_the_report_says_so(built, tmp_path):
    folder = tmp_path / "RxNorm_full_12072026"
    release(11).write(folder / "rrf")
    read = rxnorm_release.read_release(folder)
    assert (read.version, read.date) == ("26AB_261102F", "2026-11-02")
    note = (
        "the folder RxNorm_full_12072026 is named for 2026-12-07, but its RXNSAB.RRF says release 26AB_261102F "
        "(2026-11-02): built as RXNSAB.RRF says; check that this is the release you meant"
    )
    assert read.notes == [note]
    report = vocabulary_report.render(None, built["november"]["vocabulary"], {"products": 0}, read)
    assert f"**Check the release:**\n\n- {note}\n" in report


def test_a_remapping_target_that_is_itself_retired_is_reported_so(built):
    retired = section(section(built["january"]["report"], "Products (RxCUI)"), "Retired since the baseline (kept)", 3)
    assert (
        f"retired in RXNCUI.RRF; RxNorm moved it to {RETIRED_TARGET} (itself retired in RXNCUI.RRF, moved to "
        "99100004)" in retired
    )
    assert f"- {REMAPPED_IN_JANUARY} opioids: " in retired


def test_a_products_own_name_with_its_shared_brand_is_that_product(built):
    # "… [Mucinex]": the line names codeine and guaifenesin, so the brand in brackets is the codeine product; no
    # alert asks which Mucinex it is.
    view, alerts, _ = check(client_for(built["november"]["path"]), {"name": f"{CODEINE_SOLUTION} [Mucinex]"})
    assert view["recognized"] and alerts == {"opioid-use"}, (view, alerts)


def test_the_products_left_out_are_listed_by_ingredient(built):
    # Phenazocine is an opioid the vocabulary knows only as an ordinary name (UNII), so it is not listed for review:
    # its products are left out, and the report lists them by ingredient for the reviewer to scan.
    january = built["january"]["vocabulary"]
    assert "99100072" not in january["rxcui"] and "phenazocine" not in january["ingredients"]
    left_out = section(built["january"]["report"], "Products left out: their ingredients have no reviewed class")
    assert "- phenazocine: 1 product (99100072 phenazocine 5 MG Oral Tablet)\n" in left_out
    assert "- oxybutynin: 2 products (e.g. 99100032 oxybutynin chloride 5 MG Oral Tablet)\n" in left_out
    assert "zelmorphinol" not in left_out  # a new ingredient: listed for review instead
    assert "Products left out" not in built["replay"]["report"]  # only a release has products to leave out


def test_a_baseline_that_does_not_record_its_brands_products_is_refused(built, releases, tmp_path):
    # Without the record of which products each brand was read from, a brand whose product the release retires
    # would silently lose that product's reading: the refresh stops and says what to do.
    baseline = dict(built["november"]["vocabulary"])
    baseline["rxnorm"] = {k: v for k, v in baseline["rxnorm"].items() if k != "brands"}
    (tmp_path / "old.json").write_text(json.dumps(baseline), encoding="utf-8")
    args = ["--rxnorm", releases["december"], "--baseline", tmp_path / "old.json"]
    result = run_build(*args, "--output", tmp_path / "v.json", "--report", tmp_path / "r.md")
    assert result.returncode != 0 and "rebuild it from the releases it was built from" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "v.json").exists()


# --- Release files that cannot be read stop the build with file and line ---


def _broken(tmp_path, name, line):
    folder = release(11).write(tmp_path / "RxNorm_full_11022026" / "rrf")
    with (folder / name).open("ab") as handle:
        handle.write(line)
    lines = len((folder / name).read_bytes().splitlines())
    result = run_build("--rxnorm", folder.parent, "--output", tmp_path / "v.json", "--report", tmp_path / "r.md")
    assert result.returncode != 0 and not (tmp_path / "v.json").exists()
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr, f"{folder / name}:{lines}"


def test_a_line_with_the_wrong_number_of_fields_stops_the_build(tmp_path):
    error, where = _broken(tmp_path, "RXNREL.RRF", b"1|2|3|\n")
    assert f"{where}: 3 fields, expected 16" in error


def test_a_line_that_is_not_utf8_stops_the_build(tmp_path):
    row = "|".join(["99100004", "ENG", *[""] * 5, "1", "", "", "", "MMSL", "CD", "x", "caf\xe9", "", "N", ""]) + "|\n"
    error, where = _broken(tmp_path, "RXNCONSO.RRF", row.encode("latin-1"))
    assert f"{where}: not UTF-8 (byte 0xe9" in error


def test_an_ndc_that_cannot_be_normalised_stops_the_build(tmp_path):
    row = "|".join(["99100004", "", "", "", "CUI", "99100004", "", "", "NDC", "RXNORM", "9999900011", "N", ""]) + "|\n"
    error, where = _broken(tmp_path, "RXNSAT.RRF", row.encode())
    assert f"{where}: NDC '9999900011' of RxCUI 99100004 is not an 11-digit" in error


def test_an_output_that_cannot_be_written_is_a_message_not_a_traceback(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_build("--output", blocker / "v.json", "--report", tmp_path / "r.md")
    assert result.returncode != 0 and "cannot create the folder for the vocabulary" in result.stderr
    assert "Traceback" not in result.stderr
