"""The vocabulary's RxNorm monthly-release layer: what a release adds, the brands it shares, what later ones retire."""

import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import rxnorm_release  # noqa: E402
from vocabulary_common import RELEASE, decode_name, encode_name, name_keys  # noqa: E402

from rules.knowledge.dosing import parse_strengths  # noqa: E402  (strengths read as the service reads a line's)


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
