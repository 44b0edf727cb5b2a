"""Read an RxNorm monthly release (RRF files) into the concepts the vocabulary build needs.

Only NLM's own content is read (SAB=RXNORM): the full release or the Current Prescribable Content subset, which
needs no UMLS licence. Column positions are those of the RxNorm Technical Documentation (section 12, "RRF files"),
named once below; a line with another number of fields, or that is not UTF-8, stops the build with the file and
line number.

Which files: an unpacked full release holds `rrf/` (everything) and `prescribe/rrf/` (the prescribable subset:
RXNCONSO, RXNREL and RXNSAT only); the prescribable release holds `rrf/`. Every file is read from one folder, so
that names, relationships, NDCs, the version and the retirements describe the same content: `rrf/` when it has
RXNCONSO.RRF, else `prescribe/rrf/`. The directory given may be the release folder or the `rrf` folder itself.
"""

import datetime
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rules.knowledge.recognize import normalise_ndc  # noqa: E402  (the service's own NDC normal form)

# RxNorm Technical Documentation, 12.4 RXNCONSO, 12.5 RXNSAT, 12.7 RXNREL, 12.8 RXNSAB, 12.9 RXNCUI.
CONSO = "RXCUI LAT TS LUI STT SUI ISPREF RXAUI SAUI SCUI SDUI SAB TTY CODE STR SRL SUPPRESS CVF".split()
REL = "RXCUI1 RXAUI1 STYPE1 REL RXCUI2 RXAUI2 STYPE2 RELA RUI SRUI SAB SL DIR RG SUPPRESS CVF".split()
SAT = "RXCUI LUI SUI RXAUI STYPE CODE ATUI SATUI ATN SAB ATV SUPPRESS CVF".split()
SAB = (
    "VCUI RCUI VSAB RSAB SON SF SVER VSTART VEND IMETA RMETA SLC SCC SRL TFR CFR CXTY TTYL ATNL LAT CENC CURVER "
    "SABIN SSN SCIT"
).split()
CUI = "CUI1 VER_START VER_END CARDINALITY CUI2".split()  # CUI1 retired; CUI2 the concept it was moved to

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
# Where the files are, in order of preference (relative to the release folder), and what each folder holds.
FOLDERS = ((("rrf",), "full"), (("prescribe", "rrf"), "prescribable"))
REQUIRED = ("RXNCONSO.RRF", "RXNREL.RRF", "RXNSAT.RRF")
# Files only the full release has: the Current Prescribable Content ships RXNCONSO, RXNREL and RXNSAT alone.
FULL_ONLY = ("RXNSAB.RRF", "RXNCUI.RRF")
# RXNSAB SVER of RxNorm: two-digit year, the UMLS release letters, then the release date as YYMMDD
# ("26AB_261102F" is 2026-11-02; the 2012AB documentation lists RXNORM_12AA_120409F).
_SVER = re.compile(r"^\d{2}[A-Z]{2}_(\d{2})(\d{2})(\d{2})[A-Z]?$")
# NLM's release folder and zip names: RxNorm_full_MMDDYYYY, RxNorm_full_prescribe_MMDDYYYY, RxNorm_weekly_…
_FOLDER = re.compile(r"^RxNorm_(?:[A-Za-z]+_)+(\d{2})(\d{2})(\d{4})$", re.IGNORECASE)


class ReleaseError(SystemExit):
    """The release directory is not an RxNorm release we can read."""


@dataclass
class Release:
    """The RXNORM-source content of one release, read from one folder."""

    directory: Path  # the folder the RRF files were read from
    root: Path  # the release folder (the one that holds rrf/)
    folder: str  # directory relative to root, as the report and the sources name it ("rrf/", "prescribe/rrf/")
    subset: str = "full"  # "prescribable" for the Current Prescribable Content
    version: str = ""
    date: str = ""  # YYYY-MM-DD
    stated_by: dict[str, str] = field(default_factory=dict)  # "version"/"date" -> where it was read from
    tty: dict[str, str] = field(default_factory=dict)  # RXCUI -> its RxNorm term type (current concepts only)
    strings: dict[str, dict[str, list[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    links: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # RXCUI -> related RXCUIs
    ndcs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # RXCUI -> 11-digit NDCs
    obsolete_ndcs: set[str] = field(default_factory=set)  # 11-digit NDCs whose RxNorm row is marked obsolete
    retired: dict[str, str] = field(default_factory=dict)  # RXCUI -> "obsolete" (SUPPRESS=O) or "retired" (RXNCUI)
    remapped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # retired RXCUI -> RXCUIs
    obsolete_names: dict[str, str] = field(default_factory=dict)  # RXCUI -> a name of a concept no longer current
    notes: list[str] = field(default_factory=list)  # what the report asks the reviewer to check about the release

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
        return sorted((c for c, t in self.tty.items() if t in PRODUCT_TYPES), key=code_order)

    def describe_content(self):
        """What was read, as the sources entry names it: "full release (rrf/)"."""
        kind = "full release" if self.subset == "full" else "Current Prescribable Content"
        return f"{kind} ({self.folder or self.directory.name + '/'})"

    def describe(self):
        """One line for the report: which release, which folder, and where its version and date were read."""
        kind = "full release" if self.subset == "full" else "Current Prescribable Content"
        return (
            f"**{self.version}**, dated {self.date} ({kind}, read from `{self.directory}`; version from "
            f"{self.stated_by['version']}, date from {self.stated_by['date']})"
        )


def code_order(value):
    """Sort key of an RxCUI or NDC: numeric order of digit strings."""
    return (len(value), value)


def _file(directory, name):
    """The file of that name (any letter case) in directory, or None."""
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.name.upper() == name:
            return path
    return None


def _locate(directory):
    """(folder the files are read from, release folder, folder relative to it, subset, a note for the report or "")."""
    directory = Path(directory).expanduser()
    if not directory.is_dir():
        raise ReleaseError(f"{directory}: not a directory (give the unpacked RxNorm release, the folder holding rrf/)")
    found = None
    for parts, subset in FOLDERS:
        folder = directory.joinpath(*parts)
        if folder.is_dir() and _file(folder, "RXNCONSO.RRF"):
            found = folder, directory, "/".join(parts) + "/", subset
            break
    else:
        if _file(directory, "RXNCONSO.RRF"):  # the rrf folder itself
            found = directory, directory, "", "full"
            if directory.name.lower() == "rrf":
                found = directory, directory.parent, "rrf/", "full"
                if directory.parent.name.lower() == "prescribe":
                    found = directory, directory.parent.parent, "prescribe/rrf/", "prescribable"
    if found is None:
        deeper = sorted(str(p.parent) for p in directory.rglob("*") if p.name.upper() == "RXNCONSO.RRF")
        hint = f"; found {', '.join(deeper)}: give the release folder that holds rrf/" if deeper else ""
        raise ReleaseError(
            f"{directory}: no RXNCONSO.RRF in {directory}/rrf, {directory}/prescribe/rrf or {directory} itself "
            f"(give the unpacked release, the folder holding rrf/){hint}"
        )
    folder, root, relative, subset = found
    note = ""
    if "prescribe" in root.name.lower() and subset == "full":
        # NLM's prescribable release is named RxNorm_full_prescribe_MMDDYYYY, but a name is only a name: a folder
        # that holds a file only the full release has is the full release, whatever it is called.
        full_only = [name for name in FULL_ONLY if _file(folder, name)]
        if full_only:
            note = (
                f"the folder {root.name} is named as the Current Prescribable Content, but {folder} holds "
                f"{' and '.join(full_only)}, which only the full release has: read as the full release"
            )
        else:
            subset = "prescribable"
    return folder, root, relative, subset, note


def _rows(path, columns):
    """Fields of each line as a list; RRF lines end with a trailing '|'. Read as bytes, so that a line that is not
    UTF-8 stops the build with its file and line number rather than a decoder traceback."""
    width = len(columns) + 1
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ReleaseError(
                    f"{path}:{number}: not UTF-8 (byte {raw[error.start]:#04x}, byte {error.start + 1} of the line); "
                    "RxNorm releases are UTF-8: is this file from the release zip, unchanged?"
                ) from None
            parts = line.rstrip("\r\n").split("|")
            if len(parts) != width:
                raise ReleaseError(f"{path}:{number}: {len(parts) - 1} fields, expected {len(columns)} ({path.name})")
            yield number, parts


def _date(year, month, day):
    """YYYY-MM-DD, or "" when the numbers are not a calendar date."""
    try:
        return datetime.date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return ""


def _stated(release, sver, version=None, date=None):
    """Fill the release's version and date: RXNSAB SVER, else the release folder's name, else the options given;
    an option that contradicts the release, or a version or date that nothing states, stops the build."""
    found = {}
    if sver:
        found["version"] = (sver, "RXNSAB.RRF (SVER)")
        match = _SVER.match(sver)
        if match and _date(2000 + int(match[1]), match[2], match[3]):
            found["date"] = (_date(2000 + int(match[1]), match[2], match[3]), "RXNSAB.RRF (SVER)")
    match = _FOLDER.match(release.root.name)
    if match and _date(match[3], match[1], match[2]):
        where = f"the folder name {release.root.name}"
        named = _date(match[3], match[1], match[2])
        if "date" in found and found["date"][0] != named:
            # RXNSAB says which release the files are; a folder named for another month is probably another
            # month's folder with these files in it, or a mislabelled copy: built as RXNSAB says, and said.
            release.notes.append(
                f"the folder {release.root.name} is named for {named}, but its RXNSAB.RRF says release {sver} "
                f"({found['date'][0]}): built as RXNSAB.RRF says; check that this is the release you meant"
            )
        found.setdefault("version", (match[1] + match[2] + match[3], where))
        found.setdefault("date", (_date(match[3], match[1], match[2]), where))
    if date is not None and _date(*(date.split("-") + ["", ""])[:3]) != date:
        raise ReleaseError(f"--release-date {date!r}: give the release date as YYYY-MM-DD")
    for key, option, given in (("version", "--release-version", version), ("date", "--release-date", date)):
        if given is not None and not given.strip():
            raise ReleaseError(f"{option} is empty")
        if given is not None and key in found and found[key][0] != given:
            value, where = found[key]
            raise ReleaseError(f"{option} {given} contradicts the release's {key} {value} (from {where})")
        if key not in found and given is not None:
            found[key] = (given, option)
    missing = [key for key in ("version", "date") if key not in found]
    if missing:
        raise ReleaseError(
            f"{release.root}: the release's {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not stated: no RXNSAB.RRF with an RXNORM SVER "
            f"in {release.directory}, and the folder is not named as NLM names it (RxNorm_full_MMDDYYYY). State it: "
            "scripts/build_vocabulary.py --release-version VERSION --release-date YYYY-MM-DD "
            "(make vocabulary RXNORM=DIR RXNORM_VERSION=VERSION RXNORM_DATE=YYYY-MM-DD), as NLM's release notes give them"
        )
    release.version, release.date = found["version"][0], found["date"][0]
    release.stated_by = {key: where for key, (_value, where) in found.items()}


def read_release(directory, version=None, date=None):
    """Read RXNCONSO, RXNREL and RXNSAT (and RXNSAB, RXNCUI when present) of the release in directory.

    version and date (YYYY-MM-DD) state the release's version and date when neither RXNSAB.RRF nor the folder
    name gives them; they must agree with what the release says when it does."""
    folder, root, relative, subset, note = _locate(directory)
    for name in REQUIRED:
        if not _file(folder, name):
            raise ReleaseError(f"{folder}: no {name} (an RxNorm release folder holds {', '.join(REQUIRED)})")
    release = Release(folder, root, relative, subset)
    if note:
        release.notes.append(note)
    c = {name: index for index, name in enumerate(CONSO)}
    conso = _file(folder, "RXNCONSO.RRF")
    for _number, row in _rows(conso, CONSO):
        if row[c["SAB"]] != "RXNORM":
            continue
        rxcui, tty, suppress = row[c["RXCUI"]], row[c["TTY"]], row[c["SUPPRESS"]]
        if suppress == "O":  # obsolete: the concept (or this name of it) is no longer current
            if tty in PRODUCT_TYPES or tty in INGREDIENT_TYPES or tty == "BN":
                release.retired[rxcui] = "obsolete"
                release.obsolete_names.setdefault(rxcui, row[c["STR"]])
            continue
        if suppress != "N":
            continue  # suppressible or editor-suppressed names are not to be shown
        if tty not in ("SY", "TMSY", "PSN"):
            release.tty[rxcui] = tty
        release.strings[rxcui][tty].append(row[c["STR"]])
    for rxcui in set(release.retired) & set(release.tty):
        del release.retired[rxcui]  # a current concept with one obsolete name is still current
    r = {name: index for index, name in enumerate(REL)}
    for _number, row in _rows(_file(folder, "RXNREL.RRF"), REL):
        if row[r["SAB"]] != "RXNORM" or row[r["RELA"]] not in RELATIONS or row[r["SUPPRESS"]] not in ("N", ""):
            continue
        one, two = row[r["RXCUI1"]], row[r["RXCUI2"]]
        if one and two:
            release.links[one].add(two)
            release.links[two].add(one)
    s = {name: index for index, name in enumerate(SAT)}
    sat = _file(folder, "RXNSAT.RRF")
    for number, row in _rows(sat, SAT):
        if row[s["ATN"]] != "NDC" or row[s["SAB"]] != "RXNORM":
            continue  # other sources' NDCs are in their own forms, and not NLM's assertion
        # RxNorm normalises its NDCs to 11 digits; one written otherwise is read as the service reads an NDC, and
        # one that cannot be read unambiguously stops the build rather than being guessed.
        candidates = normalise_ndc(row[s["ATV"]]) or ()
        if len(candidates) != 1:
            raise ReleaseError(
                f"{sat}:{number}: NDC {row[s['ATV']]!r} of RxCUI {row[s['RXCUI']]} is not an 11-digit or "
                "hyphenated 10-digit NDC (RxNorm's own NDCs are 11 digits)"
            )
        if row[s["SUPPRESS"]] == "N":
            release.ndcs[row[s["RXCUI"]]].add(candidates[0])
        elif row[s["SUPPRESS"]] == "O":
            release.obsolete_ndcs.add(candidates[0])
    sver = ""
    sab_file = _file(folder, "RXNSAB.RRF")
    if sab_file:
        b = {name: index for index, name in enumerate(SAB)}
        for _number, row in _rows(sab_file, SAB):
            if row[b["RSAB"]] == "RXNORM" and (not sver or row[b["CURVER"]] == "Y"):
                sver = row[b["SVER"]]
    cui_file = _file(folder, "RXNCUI.RRF")
    if cui_file:
        u = {name: index for index, name in enumerate(CUI)}
        for _number, row in _rows(cui_file, CUI):
            retired, moved_to = row[u["CUI1"]], row[u["CUI2"]]
            if retired in release.tty:
                continue  # current again in this release
            release.retired.setdefault(retired, "retired")
            if moved_to and moved_to != retired and moved_to not in release.remapped.get(retired, ()):
                release.remapped[retired].append(moved_to)
    release.obsolete_ndcs -= {ndc for ndcs in release.ndcs.values() for ndc in ndcs}  # moved, not retired
    _stated(release, sver, version, date)
    return release
