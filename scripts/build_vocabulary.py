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

from rules.knowledge.dosing import parse_strengths  # noqa: E402  (strengths read as the service reads a line's)
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
        for key in name_keys(name):
            self.add_key(key, ingredients, level, flags)

    def add_key(self, key, ingredients, level, flags=()):
        """Record one name key (already normalised); returns True when the key now has this meaning."""
        ingredients = frozenset(i for i in ingredients if i)
        if not ingredients or not key or key == "+":
            return False
        if level < REFERENCE and (len(key) < 4 or key[0] in "#+0123456789"):
            return False  # short codes and numbers from UNII collide with abbreviations and sigs
        current = self.names.get(key)
        if current is None or level > current[0]:
            self.names[key] = (level, ingredients, frozenset(flags))
            return True
        if level == current[0] == CURATED_LEVEL and current[1:] != (ingredients, frozenset(flags)):
            raise SystemExit(f"curated.yaml gives {key!r} two different meanings")
        return current == (level, ingredients, frozenset(flags))


def name_keys(name):
    """The keys a name is stored under: with and without its salt words."""
    return sorted({name_key(name), name_key(name, drop_salts=False)} - {""})


def encode_name(ingredients, flags=()):
    """A name's meaning as the vocabulary file stores it: "ingredient;ingredient|flag,flag"."""
    value = ";".join(sorted(ingredients))
    return value + "|" + ",".join(sorted(flags)) if flags else value


def decode_name(value):
    """(ingredients, flags) of a stored meaning."""
    ingredients, _, flags = value.partition("|")
    return ingredients.split(";"), flags.split(",") if flags else []


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


def empty_layer():
    """What the vocabulary learned from RxNorm releases (the file's "rxnorm" entry), so that a later build keeps
    what a later release retires: the product records it added or changed, the NDCs it added (NDC -> RxCUI), the
    NDCs a release moved to a product the vocabulary leaves out (NDC -> that RxCUI; no longer read as the product
    they named before), the names it gave, the brand names it found ambiguous, the products each brand name was read
    from (name key -> RxCUIs, so that a brand whose product a later release retires keeps that product's reading),
    and what has been retired since (when, why, and for a code what RxNorm moved it to)."""
    return {
        "rxcui": {},
        "ndc": {},
        "ndc_left_out": {},
        "names": {},
        "ambiguous": {},
        "brands": {},
        "retired": {"rxcui": {}, "ndc": {}, "names": {}},
    }


def new_found():
    """What a build tells the report about the RxNorm layer, beyond the vocabulary itself."""
    return {
        "products": 0,  # the release's products in the vocabulary
        "new_ingredients": defaultdict(list),  # (ingredient, RxCUI, name) -> the release's products with it
        "displays": {},  # product -> display, for the products that contain a new ingredient
        "included": set(),  # the release's products in the vocabulary
        "shared_brands": [],  # brand names shared by products of different ingredients, and how each is read
        "dropped": {},  # code -> (display, ingredients): learned earlier, current but no longer classified
        "dropped_names": set(),  # names learned earlier whose concept is current but no longer classified
        "current_names": set(),  # name keys of the brands and ingredients of the release's current products
        "left_out": defaultdict(list),  # ingredient -> the release's products left out (no reviewed class) with it
        "ndc_left_out": {},  # NDC the vocabulary read before -> (RxCUI, display, ingredients) the release now puts it on
    }


def ordered_layer(layer):
    """The layer as the vocabulary file stores it: every table in code or key order."""
    order = rxnorm_release.code_order
    return {
        "rxcui": dict(sorted(layer["rxcui"].items(), key=lambda item: order(item[0]))),
        "ndc": dict(sorted(layer["ndc"].items())),
        "ndc_left_out": dict(sorted(layer["ndc_left_out"].items())),
        "names": dict(sorted(layer["names"].items())),
        "ambiguous": dict(sorted(layer["ambiguous"].items())),
        "brands": dict(sorted(layer["brands"].items())),
        "retired": {
            table: dict(sorted(entries.items(), key=lambda item: order(item[0])))
            for table, entries in sorted(layer["retired"].items())
        },
    }


def baseline_source(baseline):
    """The RxNorm source entry of a baseline whose layer a build without a release keeps."""
    for source in baseline.get("sources", ()):
        if source.get("id") == "rxnorm" and source.get("version") and source.get("date"):
            return dict(source)
    raise SystemExit("the baseline vocabulary has an RxNorm layer but no rxnorm source with a version and date")


def _brand_label(brand, ingredients, unreviewed):
    """How a reading of a shared brand is shown: "Mucinex (codeine + guaifenesin)"."""
    known = [i for i in ingredients if i not in unreviewed]
    new = [i for i in ingredients if i in unreviewed]
    text = " + ".join(known) + "".join(f" + {i} (not reviewed)" for i in new)
    return f"{brand} ({text.removeprefix(' + ')})"


def load_release(vocab, release, known, previous):
    """Products of an RxNorm release with an ingredient in a reviewed class, their NDCs and names, and the brands
    they are sold under; returns (the RxNorm layer, what the report needs). previous: the baseline's RxNorm layer.

    A product is in the vocabulary when one of its ingredients has a class in curated.yaml, with every ingredient
    the release gives it; an ingredient never seen before is never classified (it is listed for review, and the
    service reports it as not understood). A brand whose products have different ingredients is never read as
    their union (see load_brands). An NDC the vocabulary read before and that this release puts on a product it
    leaves out leaves with it: the release says which package an NDC is now."""
    classified = {i for i, c in vocab.classes.items() if c}
    layer, found = empty_layer(), new_found()
    compositions, flags_of, brand_products, release_keys, named = {}, {}, defaultdict(list), set(), set()
    committed_rxcui = dict(vocab.rxcui)  # before this release changes any: a retired product's record may be one
    known_ndcs = set(vocab.ndc) | set(previous["ndc"]) | set(previous["ndc_left_out"])
    left_out = []
    for rxcui in release.products():
        below = release.below(rxcui)
        ingredients, new = set(), set()
        display = release.name(rxcui, *rxnorm_release.DISPLAY_ORDER)
        for code in sorted((c for c in below if release.tty[c] == "IN"), key=rxnorm_release.code_order):
            name = release.name(code, "IN")
            ingredient = vocab.ingredient_rxcui.get(code) or vocab.ingredient(name)
            ingredients.add(ingredient)
            if ingredient not in known and ingredient not in vocab.classes:
                new.add(ingredient)
                found["new_ingredients"][(ingredient, code, name)].append(rxcui)
                found["displays"][rxcui] = display
        compositions[rxcui] = tuple(sorted(ingredients))
        for other in below:
            if release.tty[other] == "BN":
                brand_products[other].append(rxcui)
            if release.tty[other] in ("BN", "IN", "PIN"):
                named.add(other)
        if not ingredients & classified:
            # An ordinary medication (new ingredients are never in a class). Listed by ingredient in the report, so
            # that an opioid whose ingredient no one has classified yet can be spotted among them.
            left_out.append(rxcui)
            found["displays"][rxcui] = display
            for ingredient in sorted(ingredients - new):
                found["left_out"][ingredient].append(rxcui)
            continue
        ingredients = sorted(ingredients)
        flags = release_flags(ingredients, release.name(rxcui, "SCD", "SBD", "GPCK", "BPCK"), vocab.classes)
        flags_of[rxcui] = flags
        record = {"i": ingredients, "d": display}
        if flags:
            record["f"] = sorted(flags)
        current = vocab.rxcui.get(rxcui)
        if not current or current["i"] != ingredients:  # same composition: the reviewed record (and flags) stays
            vocab.rxcui[rxcui] = record
            layer["rxcui"][rxcui] = record
        found["products"] += 1
        found["included"].add(rxcui)
        for ndc in sorted(release.ndcs.get(rxcui, ()), key=rxnorm_release.code_order):
            vocab.ndc[ndc] = vocab.rxcui[rxcui]
            layer["ndc"][ndc] = rxcui
        for other in below:
            if release.tty[other] in ("IN", "PIN"):  # a precise ingredient (a salt) names its ingredient
                parts = {
                    vocab.ingredient_rxcui.get(c) or vocab.ingredient(release.name(c, "IN"))
                    for c in (release.below(other) if release.tty[other] == "PIN" else {other})
                }
                if parts & new:
                    continue  # an unreviewed ingredient's own names stay unknown words
                for name in release.strings[other].get(release.tty[other], []) + release.strings[other].get("SY", []):
                    release_keys.update(k for k in name_keys(name) if vocab.add_key(k, parts, RELEASE))
    # An NDC identifies one package at a time, and the current release is authoritative for the NDCs it carries: one
    # the vocabulary read as a classified product (committed lists or an earlier release) that this release puts on
    # another product, which it leaves out, is no longer read as the earlier product (a stool softener dispensed
    # under it must not raise opioid-use). It leaves with its new product, and the report lists it as reclassified,
    # old and new. (An NDC still on the same product, which this release no longer classifies, leaves with it too,
    # as that product does: removed, with the reason.)
    for rxcui in left_out:
        for ndc in sorted(release.ndcs.get(rxcui, ()), key=rxnorm_release.code_order):
            moved = previous["ndc"].get(ndc) != rxcui
            if ndc in known_ndcs and moved and ndc not in layer["ndc"]:  # a classified product of this release keeps it
                vocab.ndc.pop(ndc, None)
                layer["ndc_left_out"][ndc] = rxcui
                found["ndc_left_out"][ndc] = (rxcui, found["displays"][rxcui], compositions[rxcui])
    for concept in named:
        for text in release.strings[concept].get(release.tty[concept], []) + release.strings[concept].get("SY", []):
            found["current_names"].update(name_keys(text))
    new_ids = {ingredient for ingredient, _code, _name in found["new_ingredients"]}
    brands = Brands(release, compositions, flags_of, previous, committed_rxcui)
    release_keys |= load_brands(vocab, brands, brand_products, layer, found, new_ids)
    layer["names"] = {
        key: encode_name(*vocab.names[key][1:])
        for key in sorted(release_keys)
        if vocab.names[key][0] == RELEASE and key not in layer["ambiguous"]
    }
    return layer, found


class Brands:
    """What load_brands reads a brand's products from: this release's current products, and the products earlier
    releases sold under the same name that this one no longer has current (retired, obsolete or gone)."""

    def __init__(self, release, compositions, flags_of, previous, committed_rxcui):
        self.release, self.compositions, self.flags_of = release, compositions, flags_of
        self.previous, self.committed_rxcui = previous, committed_rxcui

    def retired(self, key):
        """{RxCUI: record} of the products an earlier release read this name from and this one no longer has."""
        out = {}
        for code in self.previous["brands"].get(key, ()):
            if code in self.release.tty:
                continue  # current: this release says what it is now, and under which brand
            record = self.previous["rxcui"].get(code) or self.committed_rxcui.get(code)
            if record is None:
                raise SystemExit(
                    f"the baseline's RxNorm layer reads the brand {key!r} from RxCUI {code}, which it has no record of"
                )
            out[code] = record
        return out

    def strengths(self, code, record=None):
        """The strengths (mg or mg/mL, as the service reads a line's) in a product's normalised name; () when its
        name states none that the service could compare."""
        name = record["d"] if record else self.release.name(code, "SBD", "SCD", "BPCK", "GPCK")
        return tuple(value for value, unit in parse_strengths(name) if unit in ("mg", "mg/mL"))


def _classes_of(vocab, ingredients):
    return frozenset(c for i in ingredients for c in vocab.classes.get(i, ()))


def _strength_bounds(vocab, readings, strengths, unbounded):
    """{reading: (min mg, max mg)} for the readings of an ambiguous brand that a line's strength may rule out.

    A strength rules a reading out only when another reading has every class it has and more (an ordinary product
    beside an opioid one, a pain formulation beside the same opioid with naloxone): ruling it out can only make a
    line read as more, never as less, so a strength never turns a possible opioid into an ordinary medication. A
    reading is bounded by its own products' strengths, and only when every one of them states one; the committed
    lists' reading (no product, or the lists give the name too: they state no strengths) is never bounded."""
    classes = {reading: _classes_of(vocab, reading) for reading in readings}
    bounds = {}
    for reading, products in readings.items():
        if not products or reading in unbounded or not any(classes[o] > classes[reading] for o in readings):
            continue
        found = [strengths[p] for p in products]
        if all(found):
            values = [v for values in found for v in values]
            bounds[reading] = (min(values), max(values))
    return bounds


def load_brands(vocab, brands, brand_products, layer, found, unreviewed):
    """Brand names (BN and its synonyms) of the brands with a product in a reviewed class, now or in an earlier
    release; returns the name keys set.

    A brand is read from every product sold under it that the vocabulary keeps: this release's current products,
    as it reads them, and the products an earlier release sold under it that this one retired (old lists still mean
    them by that name, so the name keeps their reading). A brand whose products have different ingredients, or
    that the committed lists read otherwise (an ordinary brand extended to an opioid product), is never read as their
    union: when every reading has the same classes it is read as the ingredients they share, and otherwise it
    becomes an ambiguous name, whose readings the service weighs as it does for an ambiguous abbreviation (an alert
    that it could be an opioid, never an opioid-use alert on a guess, unless the line's strength settles it)."""
    release = brands.release
    classified = {i for i, c in vocab.classes.items() if c}
    before = {k: v for k, v in vocab.names.items() if v[0] < RELEASE}  # what the committed lists say
    by_key = defaultdict(lambda: {"brands": [], "products": defaultdict(list)})
    for bn, products in brand_products.items():
        strings = release.strings[bn].get("BN", []) + release.strings[bn].get("SY", [])
        for key in {k for text in strings for k in name_keys(text)}:
            by_key[key]["brands"].append(release.name(bn, "BN") or strings[0])
            for product in products:
                by_key[key]["products"][brands.compositions[product]].append(product)
    keys = set()
    for key, entry in sorted(by_key.items()):
        readings = dict(entry["products"])
        flags_of = {p: set(brands.flags_of.get(p, ())) for ps in readings.values() for p in ps}
        retired = brands.retired(key)
        for code, record in retired.items():
            readings.setdefault(tuple(record["i"]), []).append(code)
            flags_of[code] = set(record.get("f", ()))
        flags = {
            ingredients: set.intersection(*(flags_of[p] for p in products))
            for ingredients, products in readings.items()
        }
        prior = before.get(key)
        lists_reading = tuple(sorted(prior[1])) if prior else None
        if prior and lists_reading not in readings:
            readings[lists_reading] = []  # no product: the meaning the committed lists give
            flags[lists_reading] = set(prior[2])
        if not any(set(ingredients) & classified for ingredients in readings):
            continue  # every reading an ordinary medication: not the vocabulary's to read
        brand = sorted(entry["brands"])[0]
        layer["brands"][key] = sorted(
            (p for products in readings.values() for p in products if p in brands.flags_of or p in retired),
            key=rxnorm_release.code_order,
        )
        if len(readings) == 1:
            (ingredients,) = readings
            if vocab.add_key(key, ingredients, RELEASE, flags[ingredients]):
                keys.add(key)
            continue
        class_sets = {_classes_of(vocab, ingredients) for ingredients in readings}
        shared = set.intersection(*(set(ingredients) for ingredients in readings)) - unreviewed
        ordered = sorted(readings, key=lambda i: (len(readings[i]) == 0, i))
        report = {
            "brand": brand,
            "key": key,
            "readings": [(i, sorted(readings[i], key=rxnorm_release.code_order)) for i in ordered],
            "retired": set(retired),
            "bounds": {},
        }
        if len(class_sets) == 1 and shared:
            report["decision"] = "shared"
            report["meaning"] = sorted(shared)
            if vocab.add_key(key, shared, RELEASE, set.intersection(*flags.values())):
                keys.add(key)
        else:
            report["decision"] = "ambiguous"
            strengths = {p: brands.strengths(p, retired.get(p)) for products in readings.values() for p in products}
            bounds = _strength_bounds(vocab, readings, strengths, {lists_reading})
            report["bounds"] = bounds
            layer["ambiguous"][key] = [
                {
                    "label": _brand_label(brand, ingredients, unreviewed),
                    "i": [i for i in ingredients if i not in unreviewed],
                    **(
                        {"min_mg": bounds[ingredients][0], "max_mg": bounds[ingredients][1]}
                        if ingredients in bounds
                        else {}
                    ),
                }
                for ingredients in ordered
            ]
        found["shared_brands"].append(report)
    return keys


def carry_over(vocab, release, previous, layer, found):
    """Keep what an earlier release taught and this one no longer has: old lists and past dispenses still name
    those codes, NDCs and brands, so they keep their meaning and are recorded as retired (never removed).

    Without a release (a build from the committed lists only) the baseline's layer is kept as it was."""
    retired_before = previous["retired"]
    for table, entries in retired_before.items():
        if release is None:
            layer["retired"][table].update(entries)

    def retire(table, key, why, moved_to=()):
        entry = retired_before[table].get(key) or {"date": release.date, "why": why}
        if moved_to and "to" not in entry:
            entry = {**entry, "to": list(moved_to)}
        layer["retired"][table][key] = entry

    for code, record in previous["rxcui"].items():
        if code in layer["rxcui"] or release is not None and code in found["included"]:
            continue  # this release has it (the same record, or its own)
        if release is not None and code in release.tty:
            found["dropped"][code] = (
                release.name(code, *rxnorm_release.DISPLAY_ORDER),
                compositions_of(release, vocab, code),
            )
            continue  # current, but no longer with a reviewed ingredient class: it leaves, and the report says why
        vocab.rxcui[code] = record
        layer["rxcui"][code] = record
        if release is not None:
            retire("rxcui", code, release.retired.get(code, "absent"), release.remapped.get(code, ()))
    left_out = layer["ndc_left_out"]  # NDCs this release puts on a product the vocabulary leaves out
    for ndc, code in previous["ndc"].items():
        if ndc in layer["ndc"] or ndc in left_out or code not in vocab.rxcui:
            continue
        vocab.ndc[ndc] = vocab.rxcui[code]
        layer["ndc"][ndc] = code
        if release is not None:
            retire("ndc", ndc, "obsolete" if ndc in release.obsolete_ndcs else "absent")
    # An NDC an earlier release moved to a product the vocabulary leaves out stays out while no release puts it on
    # a classified product again: only an NDC absent from the release keeps its last meaning.
    for ndc, code in previous["ndc_left_out"].items():
        if ndc not in layer["ndc"] and ndc not in left_out:
            left_out[ndc] = code
    for ndc in left_out:
        vocab.ndc.pop(ndc, None)  # a committed list may still name it; the release moved it
    # The products each brand was read from, for a brand this release has no current product of: kept while the
    # vocabulary keeps their records, so that the brand keeps their reading if a later release reuses the name.
    for key, codes in previous["brands"].items():
        if key not in layer["brands"]:
            kept = [c for c in codes if c in vocab.rxcui and (release is None or c not in release.tty)]
            if kept:
                layer["brands"][key] = kept
    # A name of a brand or ingredient that this release still sells in current products, none of them classified
    # any more, is not retired: it leaves, and the report says why. (A brand with no current product is retired.)
    for key in {**previous["names"], **previous["ambiguous"]}:
        if key in found["current_names"] and key not in layer["names"] and key not in layer["ambiguous"]:
            found["dropped_names"].add(key)
    for key, value in previous["names"].items():
        if key in layer["names"] or key in layer["ambiguous"] or key in found["dropped_names"]:
            continue
        ingredients, flags = decode_name(value)
        if vocab.add_key(key, ingredients, RELEASE, flags):
            layer["names"][key] = value
            if release is not None:
                retire("names", key, "absent")
    for key, readings in previous["ambiguous"].items():
        if key in layer["names"] or key in layer["ambiguous"] or key in found["dropped_names"]:
            continue
        layer["ambiguous"][key] = readings
        if release is not None:
            retire("names", key, "absent")
    if release is None:
        return
    # Codes and NDCs of the committed lists that this release retires: kept too, and recorded once.
    for code in sorted(set(vocab.rxcui) & set(release.retired), key=rxnorm_release.code_order):
        if code not in layer["retired"]["rxcui"]:
            retire("rxcui", code, release.retired[code], release.remapped.get(code, ()))
    for ndc in sorted(set(vocab.ndc) & release.obsolete_ndcs):
        if ndc not in layer["retired"]["ndc"]:
            retire("ndc", ndc, "obsolete")
    # What an earlier release retired stays recorded (so it is not reported again) unless this release has it
    # current again: a prescribable subset, or a release without RXNCUI.RRF, does not list past retirements.
    current_ndcs = {ndc for ndcs in release.ndcs.values() for ndc in ndcs}
    for code, entry in retired_before["rxcui"].items():
        if code not in layer["retired"]["rxcui"] and code in vocab.rxcui and code not in release.tty:
            layer["retired"]["rxcui"][code] = entry
    for ndc, entry in retired_before["ndc"].items():
        if ndc not in layer["retired"]["ndc"] and ndc in vocab.ndc and ndc not in current_ndcs:
            layer["retired"]["ndc"][ndc] = entry


def compositions_of(release, vocab, rxcui):
    """The ingredient ids of a release product."""
    below = release.below(rxcui)
    return sorted(
        vocab.ingredient_rxcui.get(c) or vocab.ingredient(release.name(c, "IN"))
        for c in below
        if release.tty[c] == "IN"
    )


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
        previous = {**empty_layer(), **previous}  # a layer from before NDCs were moved out: none were
    found = None
    layer = None
    if release is not None or previous:
        for code, ingredient in curated["ingredient_rxcuis"].items():
            vocab.ingredient_rxcui.setdefault(code, ingredient)
        # Ingredients the committed lists know: anything else a release brings is new, and stays unreviewed
        # (whatever an earlier release taught) until curated.yaml classifies it.
        known = {i for entry in vocab.names.values() for i in entry[1]}
        if release is not None:
            layer, found = load_release(vocab, release, known, previous or empty_layer())
            sources.append(
                {
                    "id": "rxnorm",
                    "title": f"RxNorm monthly release, NLM: {release.describe_content()}",
                    "version": release.version,
                    "date": release.date,
                }
            )
        else:
            layer, found = empty_layer(), new_found()
            sources.append(baseline_source(baseline))
        carry_over(vocab, release, previous or empty_layer(), layer, found)
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
        body["rxnorm"] = ordered_layer(layer)
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
