"""Build rules/knowledge/data/vocabulary.json from the public reference lists, the FDA UNII names and curated.yaml.

Run from the repository root (build-time only; the service never reads these sources); needs only PyYAML:

    make vocabulary [RXNORM=DIR] [REPORT=FILE]
    python scripts/build_vocabulary.py [--sources DIR] [--unii PATH] [--rxnorm DIR] [--report FILE] [--output PATH]

Every input is in the repository: the reference CSVs and UNII_Names.txt.gz in scripts/vocabulary/sources/
(provenance and licences in its README.md) and scripts/vocabulary/curated.yaml. The output depends on nothing
else (no dates, no hash-order), so a rebuild reproduces the committed file byte for byte
(tests/test_vocabulary_build.py checks it).

Precedence when two sources name the same thing differently: curated.yaml, then an RxNorm release given with
--rxnorm, then the RxNorm/CDC reference lists, then UNII official names, brand names and common names.

With --rxnorm DIR (an unpacked RxNorm monthly release, full or Current Prescribable Content), every current
product (SCD, SBD, GPCK, BPCK) with an ingredient in curated.yaml's classes is added with its display, brands,
ingredient names and NDCs; a product with an ingredient the vocabulary has never seen is left out and the
ingredient listed for review (never classified automatically). Every build writes a change report against the
vocabulary it replaces (--report, default build/vocabulary-report.md).
"""

import argparse
import csv
import gzip
import hashlib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules.knowledge.text import content_tokens, name_key, phrase_key  # noqa: E402  (the one normal form, shared with the runtime)

sys.path.insert(0, str(ROOT / "scripts"))  # the release reader and the report, beside this script
import rxnorm_release  # noqa: E402
import vocabulary_report  # noqa: E402

CURATED = ROOT / "scripts" / "vocabulary" / "curated.yaml"
SOURCES = ROOT / "scripts" / "vocabulary" / "sources"
UNII_FILE = "UNII_Names.txt.gz"
OUTPUT = ROOT / "rules" / "knowledge" / "data" / "vocabulary.json"
REPORT = ROOT / "build" / "vocabulary-report.md"

# Precedence levels: a higher level replaces a lower one; equal levels merge only for brand components.
UNII_COMMON, UNII_BRAND, UNII_COMPONENTS, UNII_OFFICIAL, REFERENCE, RELEASE, CURATED_LEVEL = 1, 2, 2.5, 3, 4, 4.5, 5

_BRACKET_TAG = re.compile(r"\s*\[[^\]]*\]\s*$")
_SIMPLE_NAME = re.compile(r"^[A-Z][A-Z0-9 .,'/&+\-]*$")


class Vocabulary:
    """Names, codes and ingredient classes as they accumulate from each source."""

    def __init__(self, curated):
        self.synonyms = {name_key(k): v for k, v in curated["ingredient_synonyms"].items()}
        self.classes = {k: list(v) for k, v in curated["ingredients"].items()}
        self.names = {}  # key -> (level, frozenset(ingredients), frozenset(flags))
        self.rxcui = {}
        self.ndc = {}
        self.ingredient_rxcui = {}
        self.known_ingredients = set(self.classes)

    def ingredient(self, substance):
        """The canonical ingredient id of a substance name (salts dropped, synonyms applied)."""
        key = name_key(substance) or name_key(substance, drop_salts=False)
        key = key.replace(" + ", "-")
        return self.synonyms.get(key, key)

    def resolve(self, substance):
        """Ingredient ids in a product component ("Matrix Delivery 24 HR tramadol hydrochloride 100 MG"):
        the whole name if it is an ingredient, else the longest known names inside it (as the runtime does)."""
        whole = self.ingredient(substance)
        if whole in self.known_ingredients:
            return {whole}
        toks = content_tokens(substance)
        found, index = set(), 0
        while index < len(toks):
            for end in range(len(toks), index, -1):
                entry = self.names.get(" ".join(toks[index:end]))
                if entry:
                    found |= entry[1]
                    index = end
                    break
            else:
                index += 1
        return found or {whole}

    def add_name(self, name, ingredients, level, flags=()):
        """Record a name; higher-precedence sources win, brand components of one level merge."""
        ingredients = frozenset(i for i in ingredients if i)
        if not ingredients:
            return
        keys = {name_key(name), name_key(name, drop_salts=False)}
        for key in keys:
            if not key or key == "+":
                continue
            if level < REFERENCE and (len(key) < 4 or key[0] in "#+0123456789"):
                continue  # short codes and numbers from UNII collide with abbreviations and sigs
            current = self.names.get(key)
            if current is None or level > current[0]:
                self.names[key] = (level, ingredients, frozenset(flags))
            elif level == current[0] == CURATED_LEVEL and current[1:] != (ingredients, frozenset(flags)):
                raise SystemExit(f"curated.yaml gives {key!r} two different meanings")


def load_unii(vocab, path):
    """Names of marketed drug substances from the FDA UNII list (public domain).

    UNII names every registered substance (chemicals, foods, plants); we keep the substances that appear
    in at least one brand-name row (so, in a marketed product), with their official and simple common names.
    """
    rows = []
    opener = gzip.open if Path(path).suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        next(handle)
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4 and parts[1] in {"of", "bn", "cn"}:
                rows.append(parts)
    components = defaultdict(set)
    marketed = set()
    for name, kind, _unii, display in rows:
        if " COMPONENT " in name:
            brand, _, _part = name.partition(" COMPONENT ")
            components[_BRACKET_TAG.sub("", brand)].add(vocab.ingredient(display))
            marketed.add(vocab.ingredient(display))
        elif kind == "bn":
            marketed.add(vocab.ingredient(display))
    vocab.known_ingredients |= marketed
    for name, kind, _unii, display in rows:
        ingredient = vocab.ingredient(display)
        if " COMPONENT " in name or ingredient not in marketed:
            continue
        clean = _BRACKET_TAG.sub("", name)
        if kind != "bn" and (not _SIMPLE_NAME.match(clean) or len(clean.split()) > 4):
            continue
        level = {"of": UNII_OFFICIAL, "bn": UNII_BRAND, "cn": UNII_COMMON}[kind]
        vocab.add_name(clean, [ingredient], level)
    # A brand listed one component per row ("PERCOCET COMPONENT ACETAMINOPHEN") is more complete than its
    # single brand row; different brands that normalise alike are never merged (first wins).
    for brand, ingredients in sorted(components.items()):
        vocab.add_name(brand, ingredients, UNII_COMPONENTS)
    return len(rows)


def display_parts(display):
    """Split an RxNorm display into (ingredient names, brand or None)."""
    brand = None
    match = re.search(r"\[([^\]]+)\]\s*$", display)
    if match:
        brand = match.group(1)
        display = display[: match.start()]
    return [part for part in display.split(" / ")], brand


def product_flags(category, subcategory, ingredients):
    """Product facts a reference row's category tells us."""
    flags = set()
    if "buprenorphine" in ingredients:
        if category == "oud_treatment":
            flags.add("oud")
        elif category == "opioid_analgesic":
            flags.add("pain")
    if "extended_release_injection" in subcategory:
        flags.add("er_injection")
    if subcategory.startswith("opioid_with_sequestered_naltrexone"):
        flags.add("sequestered")
    return flags


def load_rxnorm(vocab, reference):
    """RxNorm products (SCD/SBD) and their brands from the reference CSVs."""
    files = [
        "opioids_rxnorm.csv",
        "oud_treatment_rxnorm.csv",
        "opioid_antagonists_rxnorm.csv",
        "naltrexone_products.csv",
    ]
    brand_rows = defaultdict(list)
    count = 0
    for filename in files:
        with open(reference / filename, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                display = row["display"]
                if display.startswith("{"):
                    continue  # packs: their components carry the facts
                parts, brand = display_parts(display)
                ingredients = set().union(*(vocab.resolve(part) for part in parts)) - {""}
                ingredients = sorted(ingredients | set(filter(None, row["ingredient"].split(";"))))
                flags = product_flags(row["category"], row.get("subcategory", ""), ingredients)
                record = {"i": ingredients, "d": display}
                if flags:
                    record["f"] = sorted(flags)
                if row["code_system"] == "RXNORM":
                    previous = vocab.rxcui.get(row["code"])
                    if previous and previous.get("f") and not flags:
                        continue
                    vocab.rxcui[row["code"]] = record
                elif row["code_system"] == "NDC":
                    vocab.ndc[row["code"].zfill(11)] = record
                count += 1
                if brand:
                    brand_rows[brand].append((ingredients, flags))
    for brand, rows in brand_rows.items():
        ingredients = set()
        for row_ingredients, _ in rows:
            ingredients.update(row_ingredients)
        # A brand is an OUD (or pain) formulation only when every one of its products is.
        flags = set.intersection(*(set(f) for _, f in rows)) if rows else set()
        vocab.add_name(brand, ingredients, REFERENCE, flags)
    with open(reference / "omtk_opioid_drug_ingredients.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            vocab.ingredient_rxcui[row["ingredient_rxcui"]] = vocab.ingredient(row["ingredient_name"])
    return count


def cdc_flags(row, ingredients):
    """Buprenorphine formulation from the CDC NDC table's form and unit."""
    if "buprenorphine" not in ingredients:
        return set()
    form, unit = row["master_form"].lower(), row["uom"].upper()
    if "naloxone" in ingredients or form in {"film", "tablet", "implant"} and unit == "MG":
        return {"oud"}
    if "subcutaneous" in form:
        return {"oud"}
    return {"pain"}


def load_cdc_ndc(vocab, reference):
    """The CDC 2018 NDC/MME table: NDC products, their brand names and generic names."""
    count = 0
    brand_ingredients = defaultdict(set)
    brand_flags = defaultdict(list)
    with open(reference / "cdc_mme_ndc_opioids_2018.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            ingredients = sorted({vocab.ingredient(part) for part in row["generic_name"].split("/")} - {""})
            flags = cdc_flags(row, ingredients)
            display = f"{row['product_name']} {row['strength_per_unit']} {row['uom']} {row['master_form']}"
            record = {"i": ingredients, "d": display.strip()}
            if flags:
                record["f"] = sorted(flags)
            vocab.ndc[row["ndc"].zfill(11)] = record
            brand_ingredients[row["product_name"]].update(ingredients)
            brand_flags[row["product_name"]].append(flags)
            generic = row["generic_name"].replace("/", " / ")
            vocab.add_name(generic, ingredients, REFERENCE)
            count += 1
    for brand, ingredients in brand_ingredients.items():
        # CDC product names are often generic descriptions cut short ("BUTALBITAL-ACETAMINOPHEN-CAFFEINE"
        # for a product with codeine): a name that reads as ingredients must name exactly its ingredients.
        parts = {vocab.ingredient(part) for part in name_key(brand).split(" + ")}
        if parts & vocab.known_ingredients and parts != set(ingredients):
            continue
        flags = set.intersection(*brand_flags[brand])
        vocab.add_name(brand, ingredients, REFERENCE, flags)
    return count


def release_flags(ingredients, display, classes):
    """Product facts from an RxNorm product's ingredients and dose form (the words of its normalised name)."""
    text = display.lower()
    flags = set()
    if "buprenorphine" in ingredients:
        # [FDA-bup]: with naloxone, sublingual, the implant and the monthly/weekly depots are OUD products;
        # patches, buccal film and the 0.3 mg/mL injection are for pain.
        oud = "naloxone" in ingredients or any(w in text for w in ("sublingual", "implant", "extended-release inj"))
        flags.add("oud" if oud else "pain")
    if "naltrexone" in ingredients:
        if "inject" in text:
            flags.add("er_injection")
        elif any("opioid_agonist" in classes.get(i, ()) for i in ingredients):
            flags.add("sequestered")  # an opioid with naltrexone in the beads (Embeda) [FDA-Embeda]
    return flags


def load_release(vocab, release, known):
    """Products of an RxNorm release whose ingredients the vocabulary classifies; returns what it found."""
    classified = {i for i, c in vocab.classes.items() if c}
    found = {"products": 0, "ndcs": 0, "brands": set(), "new_ingredients": defaultdict(set), "retired": []}
    brands = defaultdict(list)
    for rxcui in release.products():
        below = release.below(rxcui)
        ingredient_codes = sorted((c for c in below if release.tty[c] == "IN"), key=lambda c: (len(c), c))
        ingredients, new = set(), []
        for code in ingredient_codes:
            name = release.name(code, "IN")
            ingredient = vocab.ingredient_rxcui.get(code) or vocab.ingredient(name)
            ingredients.add(ingredient)
            if ingredient not in known and ingredient not in vocab.classes:
                new.append((ingredient, code, name))
        display = release.name(rxcui, *rxnorm_release.DISPLAY_ORDER)
        for ingredient, code, name in new:
            found["new_ingredients"][(ingredient, code, name)].add(display)
        if new or not ingredients & classified:
            continue  # an unreviewed ingredient is never classified; unclassified products are ordinary
        ingredients = sorted(ingredients)
        flags = release_flags(ingredients, release.name(rxcui, "SCD", "SBD", "GPCK", "BPCK"), vocab.classes)
        record = {"i": ingredients, "d": display}
        if flags:
            record["f"] = sorted(flags)
        current = vocab.rxcui.get(rxcui)
        if not current or current["i"] != ingredients:  # same composition: the reviewed record (and flags) stays
            vocab.rxcui[rxcui] = record
        found["products"] += 1
        for ndc in sorted(release.ndcs.get(rxcui, ())):
            vocab.ndc[ndc.zfill(11)] = vocab.rxcui[rxcui]
            found["ndcs"] += 1
        for other in below:
            if release.tty[other] == "BN":
                brands[other].append((ingredients, flags))
            elif release.tty[other] in ("IN", "PIN"):  # a precise ingredient (a salt) names its ingredient
                parts = {
                    vocab.ingredient_rxcui.get(c) or vocab.ingredient(release.name(c, "IN"))
                    for c in (release.below(other) if release.tty[other] == "PIN" else {other})
                }
                for name in release.strings[other].get(release.tty[other], []) + release.strings[other].get("SY", []):
                    vocab.add_name(name, parts, RELEASE)
    for code, rows in sorted(brands.items()):
        ingredients = set().union(*(set(i) for i, _ in rows))
        flags = set.intersection(*(set(f) for _, f in rows))  # as for the reference lists: every product agrees
        for name in release.strings[code].get("BN", []) + release.strings[code].get("SY", []):
            vocab.add_name(name, ingredients, RELEASE, flags)
            found["brands"].add(name)
    found["retired"] = sorted(c for c in release.retired if c in vocab.rxcui)
    return found


def load_conditions(reference, curated):
    """OUD diagnoses by code (CDC opioid-misuse-disorders) and long-term opioid therapy, plus names."""
    icd, snomed, names = {}, {}, {}
    with open(reference / "oud_conditions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            text = row["display"].lower()
            if "remission" in text:
                kind = "opioid_dependence_remission"
            elif any(w in text for w in ("dependence", "abuse", "use disorder", "addiction", "withdrawal")):
                kind = "opioid_dependence"
            elif row["code_system"] == "ICD10CM":
                kind = "opioid_dependence"  # every F11 code is an opioid-related disorder
            else:
                continue  # poisonings and overdoses are not, by themselves, dependence
            (icd if row["code_system"] == "ICD10CM" else snomed)[row["code"].upper()] = kind
            names[phrase_key(re.sub(r"\s*\((disorder|finding)\)$", "", row["display"]))] = kind
    icd.update(curated["conditions"]["icd10cm"])
    names.update({phrase_key(k): v for k, v in curated["conditions"]["names"].items()})
    return {"icd10cm": icd, "snomed": snomed, "names": names}


def check_opioid_coverage(vocab):
    """Fail the build if any reference opioid product resolves to no classed opioid ingredient."""
    opioid = {i for i, classes in vocab.classes.items() if "opioid_agonist" in classes}
    missing = sorted(
        record["d"]
        for table in (vocab.ndc, vocab.rxcui)
        for record in table.values()
        if not opioid & set(record["i"])
        and not set(record["i"]) & {i for i, c in vocab.classes.items() if c}  # antagonist-only rows are fine
    )
    if missing:
        raise SystemExit(f"{len(missing)} reference products resolve to no known ingredient class: {missing[:10]}")


def digest_of(*paths):
    """A short content hash of source files: their version when the file carries none."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(Path(path).read_bytes())
    return sha.hexdigest()[:12]


REFERENCE_FILES = (
    "opioids_rxnorm.csv",
    "oud_treatment_rxnorm.csv",
    "opioid_antagonists_rxnorm.csv",
    "naltrexone_products.csv",
    "omtk_opioid_drug_ingredients.csv",
    "cdc_mme_ndc_opioids_2018.csv",
    "oud_conditions.csv",
)


def build(reference, unii_path, release=None):
    """Assemble the runtime vocabulary as a plain dict; with a release, also what the release added."""
    curated = yaml.safe_load(CURATED.read_text(encoding="utf-8"))
    vocab = Vocabulary(curated)
    counts = {"unii_rows": load_unii(vocab, unii_path)}
    counts["cdc_ndc_rows"] = load_cdc_ndc(vocab, reference)
    counts["rxnorm_rows"] = load_rxnorm(vocab, reference)
    sources = [
        {
            "id": "reference-lists",
            "title": "CDC opioid CDS and eCQM value sets, OMTK, CDC MME NDC table (scripts/vocabulary/sources)",
            "version": digest_of(*(reference / name for name in REFERENCE_FILES)),
        },
        {"id": "unii", "title": "FDA UNII names", "version": digest_of(unii_path)},
        {"id": "curated", "title": "scripts/vocabulary/curated.yaml", "version": digest_of(CURATED)},
    ]
    found = None
    if release is not None:
        for code, ingredient in curated["ingredient_rxcuis"].items():
            vocab.ingredient_rxcui.setdefault(code, ingredient)
        known = {i for entry in vocab.names.values() for i in entry[1]}
        found = load_release(vocab, release, known)
        counts["release_products"] = found["products"]
        sources.append(
            {
                "id": "rxnorm",
                "title": f"RxNorm monthly release ({release.subset}), NLM",
                "version": release.version or release.date,
                "date": release.date,
            }
        )
    for name, entry in curated["names"].items():
        ingredients = [vocab.synonyms.get(i, i) for i in entry["ingredients"]]
        vocab.add_name(name, ingredients, CURATED_LEVEL, entry.get("flags", ()))
    for code, ingredient in curated["ingredient_rxcuis"].items():
        known = vocab.ingredient_rxcui.get(code)
        if known and known != ingredient:
            raise SystemExit(f"RxCUI {code}: curated {ingredient} but OMTK says {known}")
        vocab.ingredient_rxcui[code] = ingredient
    # Every ingredient we know of must itself be resolvable by its own name.
    for ingredient in vocab.classes:
        vocab.add_name(ingredient, [ingredient], REFERENCE)
    seen = {i for value in vocab.names.values() for i in value[1]}
    seen.update(i for record in (*vocab.rxcui.values(), *vocab.ndc.values()) for i in record["i"])
    for ingredient in seen:
        vocab.add_name(ingredient, [ingredient], UNII_OFFICIAL)
    check_opioid_coverage(vocab)
    ambiguous = {}
    for abbreviation, readings in curated["ambiguous"].items():
        key = name_key(abbreviation)
        vocab.names.pop(key, None)  # an ambiguous abbreviation is never read by a plain lookup
        ambiguous[key] = [
            {
                "label": r["label"],
                "i": sorted(vocab.synonyms.get(i, i) for i in r["ingredients"]),
                **{k: r[k] for k in ("min_mg", "max_mg", "words") if k in r},
            }
            for r in readings
        ]
    names = {}
    for key, (_level, ingredients, flags) in sorted(vocab.names.items()):
        value = ";".join(sorted(ingredients))
        if flags:
            value += "|" + ",".join(sorted(flags))
        names[key] = value
    body = {
        "sources": sources,
        "ingredients": {k: sorted(v) for k, v in sorted(vocab.classes.items())},
        "ingredient_rxcui": dict(sorted(vocab.ingredient_rxcui.items())),
        "names": names,
        "rxcui": dict(sorted(vocab.rxcui.items())),
        "ndc": dict(sorted(vocab.ndc.items())),
        "conditions": load_conditions(reference, curated),
        "ambiguous": ambiguous,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    counts.update({k: len(body[k]) for k in ("names", "rxcui", "ndc", "ingredients")})
    return {"format": 1, "version": digest, "counts": counts, **body}, found


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default=str(SOURCES), help="directory of the reference CSVs and " + UNII_FILE)
    parser.add_argument("--unii", default=None, help=f"UNII names list, plain or .gz (default: SOURCES/{UNII_FILE})")
    parser.add_argument("--rxnorm", default=None, help="an unpacked RxNorm release (the folder holding rrf/)")
    parser.add_argument("--report", default=str(REPORT), help=f"change report, Markdown (default: {REPORT})")
    parser.add_argument("--output", default=str(OUTPUT))
    parser.add_argument("--baseline", default=str(OUTPUT), help="the vocabulary the report compares against")
    args = parser.parse_args(argv)
    sources = Path(args.sources)
    release = rxnorm_release.read_release(args.rxnorm) if args.rxnorm else None
    vocabulary, found = build(sources, Path(args.unii) if args.unii else sources / UNII_FILE, release)
    output = Path(args.output)
    try:
        previous = json.loads(Path(args.baseline).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None  # a first build: everything is added
    text = json.dumps(vocabulary, separators=(",", ":"), sort_keys=False) + "\n"
    output.write_bytes(text.encode("utf-8"))  # same bytes whatever the locale or platform
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(vocabulary_report.render(previous, vocabulary, found, release), encoding="utf-8")
    print(json.dumps({"version": vocabulary["version"], **vocabulary["counts"], "report": str(report)}))


if __name__ == "__main__":
    main()
