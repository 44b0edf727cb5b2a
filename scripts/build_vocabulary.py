"""Build rules/knowledge/data/vocabulary.json from the public reference lists, the FDA UNII names and curated.yaml.

Run from the repository root (build-time only; the service never reads these sources); needs only PyYAML:

    make vocabulary [RXNORM=DIR] [REPORT=FILE] [RXNORM_VERSION=V RXNORM_DATE=YYYY-MM-DD]
    python scripts/build_vocabulary.py [--sources DIR] [--unii PATH] [--rxnorm DIR] [--report FILE] [--output PATH]
        [--baseline PATH] [--curated PATH] [--release-version V --release-date YYYY-MM-DD]

Every input is in the repository: the reference CSVs and UNII_Names.txt.gz in scripts/vocabulary/sources/
(provenance and licences in its README.md) and scripts/vocabulary/curated.yaml, plus the RxNorm layer of the
vocabulary being replaced, when it has one. The output depends on nothing else (no dates, no hash-order), so a
rebuild reproduces the committed file byte for byte (tests/test_vocabulary_build.py checks it).

Precedence when two sources name the same thing differently: curated.yaml, then RxNorm releases (given with
--rxnorm, or kept from earlier ones), then the RxNorm/CDC reference lists, then UNII official names, brand names
and common names.

With --rxnorm DIR (an unpacked RxNorm monthly release, full or Current Prescribable Content; see
rxnorm_release.py for which folder is read and where the version and date come from), every current product
(SCD, SBD, GPCK, BPCK) with an ingredient in curated.yaml's classes is added with its display, brands, ingredient
names and NDCs. An ingredient the vocabulary has never seen is never classified: it is listed for review with
every product that has it, a product whose other ingredients put it in a class is added all the same (the file's
"unreviewed" list tells the service to report that ingredient as not understood), and one with no classified
ingredient is left out. A brand shared by products of different ingredients is never read as their union.

What releases taught is recorded in the vocabulary's "rxnorm" entry (the RxNorm layer: the records, NDCs, names
and ambiguous brands it added, the products each brand was read from, the NDCs a release moved to a product the
vocabulary leaves out, and what has been retired since). A later build keeps what a later release retires or no
longer carries, and records it as retired, not removed; a brand keeps the reading of its retired products beside
what a release now sells under it (a name never silently changes meaning); an NDC follows the release that carries
it. A build without --rxnorm keeps the layer of the vocabulary it replaces (--baseline, default the committed file)
as it was, so it still reproduces that file. Without a layer there (the committed lists only) nothing changes.
Every build writes a change report against the vocabulary it replaces (--report, default
build/vocabulary-report.md).
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

from rules.knowledge.text import name_key, phrase_key  # noqa: E402  (the one normal form, shared with the runtime)

sys.path.insert(0, str(ROOT / "scripts"))  # the release reader, the release layer and the report, beside this script
import rxnorm_release  # noqa: E402
import vocabulary_release  # noqa: E402
import vocabulary_report  # noqa: E402
from vocabulary_common import (  # noqa: E402
    CURATED_LEVEL,
    REFERENCE,
    UNII_BRAND,
    UNII_COMMON,
    UNII_COMPONENTS,
    UNII_OFFICIAL,
    Vocabulary,
    decode_name,
)

CURATED = ROOT / "scripts" / "vocabulary" / "curated.yaml"
SOURCES = ROOT / "scripts" / "vocabulary" / "sources"
UNII_FILE = "UNII_Names.txt.gz"
OUTPUT = ROOT / "rules" / "knowledge" / "data" / "vocabulary.json"
REPORT = ROOT / "build" / "vocabulary-report.md"

_BRACKET_TAG = re.compile(r"\s*\[[^\]]*\]\s*$")
_SIMPLE_NAME = re.compile(r"^[A-Z][A-Z0-9 .,'/&+\-]*$")


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


def build(reference, unii_path, release=None, baseline=None, curated_path=CURATED):
    """Assemble the runtime vocabulary as a plain dict, and what the report needs of the RxNorm layer (None
    when there is none). baseline: the vocabulary this build replaces; its RxNorm layer is kept where the release
    (or, without one, the whole build) no longer has it. curated_path: the pharmacist-reviewed lists."""
    curated = yaml.safe_load(Path(curated_path).read_text(encoding="utf-8"))
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
        {"id": "curated", "title": "scripts/vocabulary/curated.yaml", "version": digest_of(curated_path)},
    ]
    previous = (baseline or {}).get("rxnorm")
    if previous and release is not None and "brands" not in previous:
        # Without it a brand whose product this release retires would silently lose that product's reading.
        raise SystemExit(
            "the baseline's RxNorm layer does not record which products each brand was read from (it was built by an "
            "earlier version of this script): rebuild it from the releases it was built from, oldest first"
        )
    if previous:
        # A layer from before NDCs were moved out: none were.
        previous = {**vocabulary_release.empty_layer(), **previous}
    found = None
    layer = None
    if release is not None or previous:
        for code, ingredient in curated["ingredient_rxcuis"].items():
            vocab.ingredient_rxcui.setdefault(code, ingredient)
        # Ingredients the committed lists know: anything else a release brings is new, and stays unreviewed
        # (whatever an earlier release taught) until curated.yaml classifies it.
        known = {i for entry in vocab.names.values() for i in entry[1]}
        if release is not None:
            layer, found = vocabulary_release.load_release(
                vocab, release, known, previous or vocabulary_release.empty_layer()
            )
            sources.append(
                {
                    "id": "rxnorm",
                    "title": f"RxNorm monthly release, NLM: {release.describe_content()}",
                    "version": release.version,
                    "date": release.date,
                }
            )
        else:
            layer, found = vocabulary_release.empty_layer(), vocabulary_release.new_found()
            sources.append(vocabulary_release.baseline_source(baseline))
        vocabulary_release.carry_over(vocab, release, previous or vocabulary_release.empty_layer(), layer, found)
        unreviewed = {i for r in layer["rxcui"].values() for i in r["i"]}
        unreviewed.update(i for v in layer["names"].values() for i in decode_name(v)[0])
        unreviewed -= known | set(vocab.classes)
    else:
        unreviewed = set()
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
    for ingredient in seen - unreviewed:  # an unreviewed ingredient's name stays an unknown word
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
    if layer is not None:
        for report in found["shared_brands"]:
            if report["key"] in ambiguous or vocab.names.get(report["key"], (0,))[0] == CURATED_LEVEL:
                report["decision"] = "curated"  # curated.yaml's reading of the name wins
                layer["ambiguous"].pop(report["key"], None)
        for key, readings in layer["ambiguous"].items():
            if key not in ambiguous and vocab.names.get(key, (0,))[0] != CURATED_LEVEL:
                vocab.names.pop(key, None)  # read by its readings, never by a plain lookup
                ambiguous[key] = readings
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
        "ambiguous": dict(sorted(ambiguous.items())) if layer and layer["ambiguous"] else ambiguous,
    }
    if unreviewed:
        body["unreviewed"] = sorted(unreviewed)
    if layer is not None and any(layer[table] for table in ("rxcui", "ndc", "ndc_left_out", "names", "ambiguous")):
        body["rxnorm"] = vocabulary_release.ordered_layer(layer)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    counts.update({k: len(body[k]) for k in ("names", "rxcui", "ndc", "ingredients")})
    return {"format": 1, "version": digest, "counts": counts, **body}, found


def read_baseline(path):
    """The vocabulary a build replaces (None when there is none yet). It is what the report compares against and
    whose RxNorm layer the build keeps, so an unreadable one stops the build instead of being taken as empty."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SystemExit(f"--baseline {path}: not a readable vocabulary ({error})") from None


def prepare(path, what):
    """Create the folder a build output goes to; one that cannot be made stops the build with a message."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"cannot create the folder for the {what} {path}: {error.strerror or error}") from None


def write(path, text, what):
    """Write a build output; a path that cannot be written stops the build with a message, not a traceback."""
    try:
        Path(path).write_bytes(text.encode("utf-8"))  # same bytes whatever the locale or platform
    except OSError as error:
        raise SystemExit(f"cannot write the {what} to {path}: {error.strerror or error}") from None


def main(argv=None):
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default=str(SOURCES), help="directory of the reference CSVs and " + UNII_FILE)
    parser.add_argument("--unii", default=None, help=f"UNII names list, plain or .gz (default: SOURCES/{UNII_FILE})")
    parser.add_argument(
        "--rxnorm", default=None, help="an unpacked RxNorm release: the folder holding rrf/, or that rrf folder"
    )
    parser.add_argument(
        "--release-version",
        default=None,
        help="the release's version, when neither RXNSAB.RRF nor the folder name (RxNorm_full_MMDDYYYY) gives it",
    )
    parser.add_argument(
        "--release-date", default=None, help="the release's date (YYYY-MM-DD), likewise; must agree with the release"
    )
    parser.add_argument(
        "--curated",
        default=str(CURATED),
        help=f"the reviewed lists (default: {CURATED}); another copy shows what a review would change before it is "
        "committed",
    )
    parser.add_argument("--report", default=str(REPORT), help=f"change report, Markdown (default: {REPORT})")
    parser.add_argument("--output", default=str(OUTPUT), help=f"the vocabulary file to write (default: {OUTPUT})")
    parser.add_argument(
        "--baseline",
        default=str(OUTPUT),
        help="the vocabulary this build replaces: the report compares against it, and what its RxNorm layer holds "
        "is kept when a release no longer has it (default: the committed vocabulary)",
    )
    args = parser.parse_args(argv)
    if not args.rxnorm and (args.release_version or args.release_date):
        parser.error("--release-version and --release-date describe the release given with --rxnorm")
    prepare(args.output, "vocabulary")  # before the build: a path that cannot be written fails at once
    prepare(args.report, "change report")
    sources = Path(args.sources)
    baseline = read_baseline(args.baseline)
    release = rxnorm_release.read_release(args.rxnorm, args.release_version, args.release_date) if args.rxnorm else None
    learned_from = next((s for s in (baseline or {}).get("sources", ()) if s.get("id") == "rxnorm"), None)
    if release is not None and learned_from and release.date < learned_from.get("date", ""):
        # Everything the newer release taught would be reported as retired: almost certainly the wrong folder.
        raise SystemExit(
            f"{args.rxnorm}: release {release.version} ({release.date}) is older than the one the baseline "
            f"{args.baseline} was built from ({learned_from['version']}, {learned_from['date']})"
        )
    for note in release.notes if release is not None else ():
        print(f"check the release: {note}", file=sys.stderr)  # the report says it too
    unii = Path(args.unii) if args.unii else sources / UNII_FILE
    vocabulary, found = build(sources, unii, release, baseline, Path(args.curated))
    text = json.dumps(vocabulary, separators=(",", ":"), sort_keys=False) + "\n"
    report = vocabulary_report.render(baseline, vocabulary, found, release, args.baseline)
    write(args.output, text, "vocabulary")
    write(args.report, report, "change report")
    summary = {"version": vocabulary["version"], **vocabulary["counts"], "report": str(args.report)}
    if release is not None:
        summary["release_products"] = found["products"]
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
