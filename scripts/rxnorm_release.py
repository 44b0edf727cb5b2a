"""Read an RxNorm monthly release (RRF files) into the concepts the vocabulary build needs.

Only NLM's own content is read (SAB=RXNORM): the Current Prescribable Content subset, which needs no UMLS licence,
or the full release. Column positions are those of the RxNorm Technical Documentation (section 12, "RRF files"),
named once below; a line with another number of fields stops the build with the file and line number.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

# RxNorm Technical Documentation, 12.1 RXNCONSO, 12.4 RXNREL, 12.5 RXNSAT, 12.6 RXNSAB, 12.8 RXNCUI.
CONSO = "RXCUI LAT TS LUI STT SUI ISPREF RXAUI SAUI SCUI SDUI SAB TTY CODE STR SRL SUPPRESS CVF".split()
REL = "RXCUI1 RXAUI1 STYPE1 REL RXCUI2 RXAUI2 STYPE2 RELA RUI SRUI SAB SL DIR RG SUPPRESS CVF".split()
SAT = "RXCUI LUI SUI RXAUI STYPE CODE ATUI SATUI ATN SAB ATV SUPPRESS CVF".split()
SAB = (
    "VCUI RCUI VSAB RSAB SON SF SVER VSTART VEND IMETA RMETA SLC SCC SRL TFR CFR CXTY TTYL ATNL LAT CENC CURVER "
    "SABIN SSN SCIT"
).split()
CUI = "CUI1 VER_START VER_END CARDINALITY CUI2".split()

PRODUCT_TYPES = ("SCD", "SBD", "GPCK", "BPCK")  # what is prescribed and dispensed
INGREDIENT_TYPES = ("IN", "PIN", "MIN")
# Which term types a product's composition is read through, from the product down to its ingredients. Any
# relationship between two concepts of these types is followed (RXNREL lists each link in both directions); the
# term types alone say which way is "down", so no relationship name is trusted to point one way.
DOWN = {
    "BPCK": ("SBD", "SCD", "GPCK", "BN"),
    "GPCK": ("SCD",),
    "SBD": ("SCD", "BN"),
    "SCD": ("SCDC", "MIN", "IN"),
    "SCDC": ("IN", "PIN"),
    "MIN": ("IN",),
    "PIN": ("IN",),
}
RELATIONS = frozenset(
    {
        "contains",
        "contained_in",
        "tradename_of",
        "has_tradename",
        "consists_of",
        "constitutes",
        "has_ingredient",
        "ingredient_of",
        "has_ingredients",
        "ingredients_of",
        "has_precise_ingredient",
        "precise_ingredient_of",
        "has_part",
        "part_of",
        "form_of",
        "has_form",
    }
)
# Preferred display of a product: the prescribable name, then the normalised name.
DISPLAY_ORDER = ("PSN", "SCD", "SBD", "GPCK", "BPCK")
_DATE_IN_NAME = re.compile(r"_(\d{2})(\d{2})(\d{4})(?:\D|$)")


class ReleaseError(SystemExit):
    """The release directory is not an RxNorm release we can read."""


@dataclass
class Release:
    """The RXNORM-source content of one release."""

    directory: Path
    version: str = ""  # RXNSAB SVER of RxNorm, when the release has RXNSAB.RRF
    date: str = ""  # YYYY-MM-DD, from the release's file names (RxNorm_full_MMDDYYYY.zip, Readme_…_MMDDYYYY.txt)
    subset: str = "full"  # "prescribable" for the Current Prescribable Content
    tty: dict[str, str] = field(default_factory=dict)  # RXCUI -> its RxNorm term type (the concept's own)
    strings: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    links: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # RXCUI -> related RXCUIs
    ndcs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # RXCUI -> 11-digit NDCs
    retired: set[str] = field(default_factory=set)  # RXCUIs the release marks obsolete or lists as retired

    def name(self, rxcui, *types):
        """The concept's first string of the first term type given that it has."""
        for tty in types:
            if self.strings[rxcui].get(tty):
                return self.strings[rxcui][tty][0]
        return ""

    def below(self, rxcui):
        """Concepts under a product or ingredient in DOWN order, itself excluded."""
        seen, stack = set(), [rxcui]
        while stack:
            current = stack.pop()
            allowed = DOWN.get(self.tty.get(current, ""), ())
            for other in self.links.get(current, ()):
                if other not in seen and self.tty.get(other) in allowed:
                    seen.add(other)
                    stack.append(other)
        return seen

    def products(self):
        """RXCUIs of the release's current products, in code order."""
        return sorted((c for c, t in self.tty.items() if t in PRODUCT_TYPES and c not in self.retired), key=_code)


def _code(value):
    return (len(value), value)


def _find(directory, name, required=True):
    found = sorted(p for p in Path(directory).rglob("*") if p.name.upper() == name)
    if not found and required:
        raise ReleaseError(f"{directory}: no {name} (give the unpacked release, e.g. the folder that holds rrf/)")
    return found[0] if found else None


def _rows(path, columns):
    """Fields of each line as a tuple; RRF lines end with a trailing '|'."""
    width = len(columns) + 1
    with open(path, encoding="utf-8", errors="strict", newline="") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\r\n").split("|")
            if len(parts) != width:
                raise ReleaseError(f"{path}:{number}: {len(parts) - 1} fields, expected {len(columns)} ({path.name})")
            yield parts


def read_release(directory):
    """Read RXNCONSO, RXNREL and RXNSAT (and RXNSAB, RXNCUI when present) of the release in directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReleaseError(f"{directory}: not a directory")
    release = Release(directory)
    c = {name: index for index, name in enumerate(CONSO)}
    for row in _rows(_find(directory, "RXNCONSO.RRF"), CONSO):
        if row[c["SAB"]] != "RXNORM":
            continue
        rxcui, tty, suppress = row[c["RXCUI"]], row[c["TTY"]], row[c["SUPPRESS"]]
        if suppress == "O":  # obsolete: the concept (or this name of it) is no longer current
            if tty in PRODUCT_TYPES or tty in INGREDIENT_TYPES or tty == "BN":
                release.retired.add(rxcui)
            continue
        if suppress != "N":
            continue  # suppressible or editor-suppressed names are not to be shown
        if tty not in ("SY", "TMSY", "PSN"):
            release.tty[rxcui] = tty
        release.strings[rxcui][tty].append(row[c["STR"]])
    release.retired -= set(release.tty)  # a current concept with one obsolete name is still current
    r = {name: index for index, name in enumerate(REL)}
    for row in _rows(_find(directory, "RXNREL.RRF"), REL):
        if row[r["SAB"]] != "RXNORM" or row[r["RELA"]] not in RELATIONS or row[r["SUPPRESS"]] not in ("N", ""):
            continue
        one, two = row[r["RXCUI1"]], row[r["RXCUI2"]]
        if one and two:
            release.links[one].add(two)
            release.links[two].add(one)
    s = {name: index for index, name in enumerate(SAT)}
    for row in _rows(_find(directory, "RXNSAT.RRF"), SAT):
        # Only RxNorm's own NDCs are normalised to 11 digits; other sources' are as the source gives them.
        if row[s["ATN"]] == "NDC" and row[s["SAB"]] == "RXNORM" and row[s["SUPPRESS"]] == "N":
            release.ndcs[row[s["RXCUI"]]].add(row[s["ATV"]])
    sab_file = _find(directory, "RXNSAB.RRF", required=False)
    if sab_file:
        b = {name: index for index, name in enumerate(SAB)}
        for row in _rows(sab_file, SAB):
            if row[b["RSAB"]] == "RXNORM":
                release.version = row[b["SVER"]]
    cui_file = _find(directory, "RXNCUI.RRF", required=False)
    if cui_file:
        u = {name: index for index, name in enumerate(CUI)}
        for row in _rows(cui_file, CUI):
            if row[u["CUI1"]] not in release.tty:
                release.retired.add(row[u["CUI1"]])
    names = [p.name for p in directory.rglob("*")] + [directory.name]
    for name in sorted(names):
        match = _DATE_IN_NAME.search(name)
        if match:
            month, day, year = match.groups()
            release.date = f"{year}-{month}-{day}"
            break
    if any("prescribe" in n.lower() for n in names):
        release.subset = "prescribable"
    return release
