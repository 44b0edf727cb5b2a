"""The change report of a vocabulary build, in Markdown, for the pharmacist who reviews a refresh.

Every list is given in full: what a pharmacist signs off must all be on the page, however long it gets.
"""

from collections import defaultdict

from vocabulary_common import decode_name

# The groups a pharmacist reviews, first match wins (a product's ingredients' classes decide).
GROUPS = (
    ("naltrexone products", lambda i, c, f: "naltrexone" in i),
    ("OUD treatment", lambda i, c, f: "oud" in f or "opioid_maintenance" in c and "pain" not in f),
    ("opioids", lambda i, c, f: "opioid_agonist" in c),
    ("opioid antagonists", lambda i, c, f: "opioid_antagonist" in c or "peripheral_opioid_antagonist" in c),
    ("other classified", lambda i, c, f: bool(c)),
    ("ordinary medications", lambda i, c, f: True),
)
GROUP_ORDER = [name for name, _ in GROUPS]
# Why a code, NDC or name is retired, as the build records it (vocabulary_release.carry_over).
WHY = {
    "obsolete": "marked obsolete (SUPPRESS=O) in this release",
    "retired": "retired in RXNCUI.RRF",
    "absent": "no longer in this release",
}
COLUMNS = ("added", "retired", "removed", "reclassified")
NO_NAME = "(name not in this release)"


def group(ingredients, flags, classes):
    """The review group of something with these ingredients and flags."""
    ingredients = set(ingredients)
    all_classes = {k for i in ingredients for k in classes.get(i, ())}
    return next(name for name, test in GROUPS if test(ingredients, all_classes, set(flags)))


def _ingredients(ingredients, unreviewed):
    """ "oxycodone, zelotrofen (not reviewed)"."""
    return ", ".join(f"{i} (not reviewed)" if i in unreviewed else i for i in ingredients) or "no reviewed ingredient"


def _records(vocabulary, table):
    """code -> (group, ingredients, display) of one code table."""
    if not vocabulary:
        return {}
    classes = vocabulary["ingredients"]
    return {
        code: (group(r["i"], r.get("f", ()), classes), tuple(r["i"]), r["d"]) for code, r in vocabulary[table].items()
    }


def _names(vocabulary):
    """name key -> (group, ingredients, meaning text): plain names, and the brand names read as ambiguous."""
    if not vocabulary:
        return {}
    classes = vocabulary["ingredients"]
    unreviewed = set(vocabulary.get("unreviewed", ()))
    out = {}
    for key, value in vocabulary["names"].items():
        ingredients, flags = decode_name(value)
        parts = tuple(ingredients)
        found = group(parts, flags, classes)
        out[key] = (found, parts, _ingredients(parts, unreviewed) + (f" [{','.join(flags)}]" if flags else ""))
    for key in vocabulary.get("rxnorm", {}).get("ambiguous", ()):
        readings = vocabulary["ambiguous"].get(key)
        if not readings:
            continue  # curated.yaml reads it
        groups = [group(r["i"], (), classes) for r in readings]
        strongest = min(groups, key=GROUP_ORDER.index)
        parts = tuple(sorted({i for r in readings for i in r["i"]}))
        out[key] = (strongest, parts, "ambiguous: could be " + " or ".join(_reading_text(r) for r in readings))
    return out


def _mg(value):
    return f"{value:g}"


def _bounds_text(low, high):
    """The strengths a bounded reading admits, as the service compares them (mg, or mg/mL for a liquid): "500",
    "0.3 to 6"."""
    return _mg(low) if low == high else f"{_mg(low)} to {_mg(high)}"


def _reading_text(reading):
    """One reading of an ambiguous name, with the strengths that bound it: "Hycodexa (acetaminophen) [strength
    500]"."""
    if "min_mg" in reading or "max_mg" in reading:
        bounds = _bounds_text(reading.get("min_mg", 0), reading.get("max_mg", float("inf")))
        return f"{reading['label']} [strength {bounds}]"
    return reading["label"]


def _diff(before, after, retired, width):
    """(added, removed, reclassified) keys. A code is reclassified when its group or ingredients changed (a new
    display is not a new meaning); a name when anything it is read as changed (width 3: flags, ambiguity too)."""
    added = sorted(set(after) - set(before), key=_order)
    removed = sorted(set(before) - set(after), key=_order)
    changed = sorted(
        (k for k in set(before) & set(after) if before[k][:width] != after[k][:width] and k not in retired), key=_order
    )
    return added, removed, changed


def _order(key):
    return (len(key), key)


def _lines(items, render):
    return [render(item) for item in items] or ["- none"]


def _table(rows, header):
    if not rows:
        return ["- none"]
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(row)} |" for row in rows)]


def _cell(text):
    return text.replace("|", "\\|")


class Report:
    """The report's parts, built from the previous and new vocabularies and what the build says of the release."""

    def __init__(self, previous, vocabulary, found, release):
        self.previous, self.vocabulary, self.found, self.release = previous, vocabulary, found, release
        # Each side is shown in its own review state: an ingredient reviewed since the baseline is "not reviewed"
        # only in what the baseline read.
        self.unreviewed = set(vocabulary.get("unreviewed", ()))
        self.unreviewed_before = set((previous or {}).get("unreviewed", ()))
        layer_before = (previous or {}).get("rxnorm", {}).get("retired", {})
        layer_after = vocabulary.get("rxnorm", {}).get("retired", {})
        # Newly retired: recorded as retired by this build and not by the baseline (earlier retirements are history).
        self.retired = {
            table: {k: v for k, v in layer_after.get(table, {}).items() if k not in layer_before.get(table, {})}
            for table in ("rxcui", "ndc", "names")
        }
        self.tables = {
            "rxcui": (_records(previous, "rxcui"), _records(vocabulary, "rxcui")),
            "ndc": (_records(previous, "ndc"), _records(vocabulary, "ndc")),
            "names": (_names(previous), _names(vocabulary)),
        }
        # An NDC this release moved to a product the vocabulary leaves out: reclassified, old and new side by side
        # (it is no longer in the vocabulary, but it is not removed without a word: the release says what it is now).
        self.moved_out = {}
        classes = vocabulary["ingredients"]
        for ndc, (rxcui, display, ingredients) in sorted((found or {}).get("ndc_left_out", {}).items()):
            before, after = self.tables["ndc"]
            if ndc in before and ndc not in after:
                after[ndc] = (group(ingredients, (), classes), tuple(ingredients), display)
                self.moved_out[ndc] = rxcui
        self.diffs = {t: _diff(*pair, self.retired[t], 3 if t == "names" else 2) for t, pair in self.tables.items()}

    def summary(self):
        counts = defaultdict(lambda: [0] * 12)
        for column, table in enumerate(("rxcui", "ndc", "names")):
            before, after = self.tables[table]
            added, removed, changed = self.diffs[table]
            for key in added:
                counts[after[key][0]][column * 4] += 1
            for key in self.retired[table]:
                if key in after:
                    counts[after[key][0]][column * 4 + 1] += 1
            for key in removed:
                counts[before[key][0]][column * 4 + 2] += 1
            for key in changed:
                counts[after[key][0]][column * 4 + 3] += 1  # counted in the group it is in now
        header = ["group"] + [f"{what} {column}" for what in ("products", "NDCs", "names") for column in COLUMNS]
        rows = [[name, *(str(n) for n in counts[name])] for name in GROUP_ORDER if name in counts]
        return _table(rows or [["(no change)", *(["0"] * 12)]], header)

    def _code(self, values, bold=False, before=False):
        group_name, ingredients, display = values
        shown = f"**{group_name}**" if bold else group_name
        return (
            f"{shown}: {display} ({_ingredients(ingredients, self.unreviewed_before if before else self.unreviewed)})"
        )

    def _retirement(self, table, key):
        entry = self.retired[table][key]
        text = WHY.get(entry["why"], entry["why"])
        if table == "names" and entry["why"] == "absent":
            text = "no current product of this release has this name"
        if entry["why"] == "absent" and self.release is not None and self.release.subset == "prescribable":
            text += " (the prescribable subset leaves out what is no longer prescribable)"
        targets = entry.get("to", ())
        if targets:
            text += "; RxNorm moved it to " + ", ".join(self._target(t) for t in targets)
        elif entry["why"] != "absent" and table == "rxcui":
            text += "; no successor given"
        return text

    def _target(self, rxcui):
        """A code RxNorm moved a retired one to, and whether that code is itself current in this release (a chain
        of moves ends where RxNorm says, not at a code that is gone too)."""
        name = self._name_of(rxcui)
        release = self.release
        if release is None or rxcui in release.tty:
            return f"{rxcui} {name}".rstrip()
        why = release.retired.get(rxcui)
        state = f"itself {WHY[why]}" if why else "itself not in this release"
        moved = release.remapped.get(rxcui, ())
        if moved:
            state += ", moved to " + ", ".join(moved)
        return f"{rxcui} ({state})" if name == NO_NAME else f"{rxcui} {name} ({state})"

    def _name_of(self, rxcui):
        """The name of an RxCUI, as the release or the vocabulary gives it."""
        release = self.release
        if release is not None:
            name = release.name(rxcui, "PSN", "SCD", "SBD", "GPCK", "BPCK", "IN", "BN") or release.obsolete_names.get(
                rxcui, ""
            )
            if name:
                return name
        record = self.vocabulary["rxcui"].get(rxcui)
        return record["d"] if record else NO_NAME

    def code_section(self, title, table):
        before, after = self.tables[table]
        added, removed, changed = self.diffs[table]
        dropped = (self.found or {}).get("dropped", {})
        lines = ["", f"## {title}", "", "### Added", ""]
        lines += _lines(added, lambda k: f"- {k} {self._code(after[k], bold=True)}")
        lines += ["", "### Retired since the baseline (kept)", ""]
        retired = sorted((k for k in self.retired[table] if k in after), key=_order)
        lines += _lines(retired, lambda k: f"- {k} {self._code(after[k])}: {self._retirement(table, k)}")
        lines += ["", "### Removed", ""]

        def gone(key):
            text = f"- {key} {self._code(before[key], before=True)}"
            if table == "rxcui" and key in dropped:
                display, ingredients = dropped[key]
                text += (
                    f": still current in this release as {display} ({', '.join(ingredients)}), "
                    "which has no ingredient in a reviewed class"
                )
            return text

        lines += _lines(removed, gone)
        lines += ["", "### Reclassified", ""]

        def now(key):
            text = self._code(after[key], True)
            if key in self.moved_out:
                text += (
                    f": this release puts it on RxCUI {self.moved_out[key]}, which has no ingredient in a reviewed "
                    "class; left out of the vocabulary with its product, so no longer read as before"
                )
            return _cell(text)

        lines += _table(
            [[k, _cell(self._code(before[k], before=True)), now(k)] for k in changed],
            ["code", "before", "after"],
        )
        return lines

    def names_section(self):
        before, after = self.tables["names"]
        added, removed, changed = self.diffs["names"]
        classified = [k for k in added if after[k][0] != "ordinary medications"]
        retired = sorted((k for k in self.retired["names"] if k in after), key=_order)
        lines = [
            "",
            "## Names and brands",
            "",
            f"{len(added)} added ({len(classified)} of them classified), {len(retired)} retired, "
            f"{len(removed)} removed, {len(changed)} reclassified. Names of ordinary medications that were added are "
            "counted, not listed.",
            "",
            "### Added (classified groups)",
            "",
        ]
        lines += _lines(classified, lambda k: f"- {k} **{after[k][0]}**: {after[k][2]}")
        lines += ["", "### Retired since the baseline (kept)", ""]
        lines += _lines(retired, lambda k: f"- {k} {after[k][0]}: {after[k][2]}: {self._retirement('names', k)}")
        lines += ["", "### Removed", ""]
        dropped = (self.found or {}).get("dropped_names", set())
        lines += _lines(
            removed,
            lambda k: (
                f"- {k} {before[k][0]}: {before[k][2]}"
                + (": still in this release, with no product in a reviewed class" if k in dropped else "")
            ),
        )
        lines += ["", "### Reclassified", ""]
        lines += _table(
            [
                [k, _cell(f"{before[k][0]}: {before[k][2]}"), _cell(f"**{after[k][0]}**: {after[k][2]}")]
                for k in changed
            ],
            ["name", "before", "after"],
        )
        return lines

    def shared_brands(self):
        lines = [
            "",
            "## Brands shared by products of different ingredients",
            "",
            "A brand name is never read as the union of its products' ingredients, and never silently changes "
            "meaning: a product an earlier release sold under the name and this one retired keeps its reading beside "
            "the name's new products (old lists still mean it by that name). When every reading has the same "
            "classes, the name is read as the ingredients they all share (each product's own name and code carry the "
            "rest). Otherwise the name is ambiguous: with naltrexone, a line naming only the brand gets a "
            "could-be-an-opioid alert that asks for the product to be confirmed, never an opioid-use alert on a guess. "
            "A strength on the line rules a reading out only where one is shown below: only a reading that another "
            "reading has every class of, and more (an ordinary product beside an opioid one), so that a strength can "
            "make a line read as the opioid product, never rule the opioid out. "
            "To settle one, give it a meaning in `names:` (or readings with strengths in `ambiguous:`) in "
            "scripts/vocabulary/curated.yaml. Every such brand the release has is listed, each month; a brand "
            "whose reading changed is also under Names and brands, Reclassified.",
            "",
        ]
        shared = (self.found or {}).get("shared_brands", [])
        if not shared:
            return [*lines, "- none"]
        for entry in sorted(shared, key=lambda e: e["key"]):
            if entry["decision"] == "ambiguous":
                how = "**ambiguous**: could be any reading below"
            elif entry["decision"] == "shared":
                how = f"read as the ingredients all its readings share: **{', '.join(entry['meaning'])}**"
            else:
                how = "read as scripts/vocabulary/curated.yaml says"
            lines.append(f"- **{entry['brand']}** (`{entry['key']}`): {how}. Readings:")
            retired = entry.get("retired", set())
            for ingredients, products in entry["readings"]:
                where = (
                    "; ".join(
                        f"{p} {self._name_of(p)}"
                        + (" (retired: kept, old lists still name it)" if p in retired else "")
                        for p in products
                    )
                    if products
                    else "what the committed source lists read the name as"
                )
                bounds = entry.get("bounds", {}).get(tuple(ingredients))
                if bounds:
                    outside = "other than" if bounds[0] == bounds[1] else "outside"
                    where += f"; ruled out by a line stating a strength (mg or mg/mL) {outside} {_bounds_text(*bounds)}"
                lines.append(f"  - {_ingredients(ingredients, self.unreviewed)}: {where}")
        return lines

    def review(self):
        lines = [
            "",
            "## New ingredients awaiting review",
            "",
            "Never classified automatically. A product that also has an ingredient in a reviewed class is in the "
            "vocabulary with that ingredient's classes (so an opioid product still raises opioid-use with "
            "naltrexone), and the service reports the new ingredient as not understood; a product with no reviewed "
            "ingredient is left out, so a line naming it is reported as not understood. To review an ingredient, "
            "add it to `ingredients:` in scripts/vocabulary/curated.yaml with its classes (or `[]` for an ordinary "
            "medication) and rebuild.",
            "",
        ]
        found = self.found or {}
        included = found.get("included", set())
        entries = {}
        for (ingredient, code, name), products in found.get("new_ingredients", {}).items():
            entries[ingredient] = (f"**{name}** (RxCUI {code})", sorted(set(products), key=_order))
        records = self.vocabulary["rxcui"]
        for ingredient in sorted(set(self.vocabulary.get("unreviewed", ())) - set(entries)):
            # From an earlier release, and still unreviewed: its products in the vocabulary.
            products = sorted((c for c, r in records.items() if ingredient in r["i"]), key=_order)
            entries[ingredient] = (f"**{ingredient}** (from an earlier release)", products)
        if not entries:
            return [*lines, "- none"]

        def in_vocabulary(products):
            return any(p in included or p in records for p in products)

        classes = self.vocabulary["ingredients"]
        for ingredient in sorted(entries, key=lambda i: (not in_vocabulary(entries[i][1]), i)):
            title, products = entries[ingredient]
            lines.append(f"- {title}, in {len(products)} product{'s' if len(products) != 1 else ''}:")
            for product in products:
                record = records.get(product)
                display = found.get("displays", {}).get(product) or (record["d"] if record else product)
                if record:
                    known = [i for i in record["i"] if i not in self.unreviewed]
                    state = (
                        f"in the vocabulary as **{group(record['i'], record.get('f', ()), classes)}** because of "
                        f"{', '.join(known)}; {ingredient} reported as not understood"
                    )
                else:
                    state = "left out (no ingredient in a reviewed class)"
                lines.append(f"  - {product} {display}: {state}")
        return lines

    def left_out(self):
        lines = [
            "",
            "## Products left out: their ingredients have no reviewed class",
            "",
            "The vocabulary holds only products with an ingredient in a reviewed class. An ingredient the vocabulary "
            "already knows as an ordinary name (from the committed lists or the FDA UNII list) is not listed for "
            "review above, so its products are left out without a question: scan these ingredients for an opioid, "
            "an opioid antagonist or a naltrexone product that no one has classified. To classify one, add it to "
            "`ingredients:` in scripts/vocabulary/curated.yaml and rebuild. One line per ingredient (a product with "
            "several is counted under each): how many of this release's products have it, and one of them. "
            "Ingredients reviewed in curated.yaml, and new ingredients (listed above), are not repeated here.",
            "",
        ]
        found = self.found or {}
        reviewed = set(self.vocabulary["ingredients"])
        entries = sorted((i, p) for i, p in found.get("left_out", {}).items() if i and i not in reviewed)
        for ingredient, products in entries:
            products = sorted(set(products), key=_order)
            example = f"{products[0]} {found.get('displays', {}).get(products[0], '')}".rstrip()
            count = f"{len(products)} product{'s' if len(products) != 1 else ''}"
            lines.append(f"- {ingredient}: {count} ({'e.g. ' if len(products) > 1 else ''}{example})")
        return lines if entries else [*lines, "- none"]


def render(previous, vocabulary, found, release, baseline_path="the committed vocabulary"):
    """The report: what changed against the previous vocabulary, per review group."""
    report = Report(previous, vocabulary, found, release)
    lines = ["# Vocabulary change report", ""]
    old_version = previous.get("version", "none") if previous else "none (first build)"
    lines += [f"Vocabulary {old_version} → **{vocabulary['version']}**, compared with `{baseline_path}`.", ""]
    layer_before = next((s for s in (previous or {}).get("sources", ()) if s.get("id") == "rxnorm"), None)
    if release is not None:
        lines += [f"RxNorm release: {release.describe()}.", ""]
        if release.notes:
            lines += ["**Check the release:**", "", *(f"- {note}" for note in release.notes), ""]
        lines += [f"Products of this release in the vocabulary: {found['products']}.", ""]
    elif found is not None:
        lines += [
            "No RxNorm release was given: built from the committed source lists, and the RxNorm layer of the "
            "baseline is kept as it was.",
            "",
        ]
    else:
        lines += ["No RxNorm release was given: built from the committed source lists only.", ""]
    if layer_before:
        lines += [
            f"The baseline's RxNorm content is from release {layer_before['version']} ({layer_before['date']}).",
            "",
        ]
    elif release is not None:
        lines += ["The baseline has no RxNorm content: this is its first refresh.", ""]
    lines += ["Sources:", ""]
    lines += [
        f"- {s['title']}: {s['version']}" + (f" ({s['date']})" if s.get("date") else "") for s in vocabulary["sources"]
    ]
    lines += [
        "",
        "What each list means: **added** is new; **retired** is marked obsolete or retired by RxNorm, or gone from the "
        "release, since the baseline, and is kept, because old lists and past dispenses still name it; **removed** "
        "is no longer in the vocabulary; **reclassified** reads differently now (old and new side by side).",
        "",
        "## Summary",
        "",
        *report.summary(),
    ]
    lines += report.code_section("Products (RxCUI)", "rxcui")
    lines += report.code_section("NDCs", "ndc")
    lines += report.names_section()
    if found is not None:
        lines += report.shared_brands()
        lines += report.review()
        if release is not None:
            lines += report.left_out()
    return "\n".join(lines) + "\n"
