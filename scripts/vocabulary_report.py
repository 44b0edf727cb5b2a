"""The change report of a vocabulary build, in Markdown, for the pharmacist who reviews a refresh."""

from collections import defaultdict

# The groups a pharmacist reviews, first match wins (a product's ingredients' classes decide).
GROUPS = (
    ("naltrexone products", lambda i, c, f: "naltrexone" in i),
    ("OUD treatment", lambda i, c, f: "oud" in f or "opioid_maintenance" in c and "pain" not in f),
    ("opioids", lambda i, c, f: "opioid_agonist" in c),
    ("opioid antagonists", lambda i, c, f: "opioid_antagonist" in c or "peripheral_opioid_antagonist" in c),
    ("other classified", lambda i, c, f: bool(c)),
    ("ordinary medications", lambda i, c, f: True),
)
LIST_LIMIT = 200  # rows per list; a longer list says how many more there are


def group(ingredients, flags, classes):
    """The review group of something with these ingredients and flags."""
    ingredients = set(ingredients)
    all_classes = {k for i in ingredients for k in classes.get(i, ())}
    return next(name for name, test in GROUPS if test(ingredients, all_classes, set(flags)))


def _records(vocabulary, table):
    """code -> (group, ingredients, display) of one code table."""
    if not vocabulary:
        return {}
    classes = vocabulary["ingredients"]
    return {
        code: (group(r["i"], r.get("f", ()), classes), tuple(r["i"]), r["d"]) for code, r in vocabulary[table].items()
    }


def _names(vocabulary):
    """name key -> (group, ingredients)."""
    if not vocabulary:
        return {}
    classes = vocabulary["ingredients"]
    out = {}
    for key, value in vocabulary["names"].items():
        ingredients, _, flags = value.partition("|")
        parts = tuple(ingredients.split(";"))
        out[key] = (group(parts, flags.split(",") if flags else (), classes), parts)
    return out


def _diff(before, after):
    added = sorted(set(after) - set(before), key=lambda k: (len(k), k))
    removed = sorted(set(before) - set(after), key=lambda k: (len(k), k))
    changed = sorted((k for k in set(before) & set(after) if before[k][0] != after[k][0]), key=lambda k: (len(k), k))
    return added, removed, changed


def _rows(items, render):
    lines = [render(item) for item in items[:LIST_LIMIT]]
    if len(items) > LIST_LIMIT:
        lines.append(f"- … and {len(items) - LIST_LIMIT} more")
    return lines or ["- none"]


def _code_sections(title, before, after, diff):
    """Added, removed and reclassified codes of one table."""
    added, removed, changed = diff

    def old(k):
        return f"- {k} {before[k][0]}: {before[k][2]} ({', '.join(before[k][1])})"

    def new(k):
        return f"- {k} **{after[k][0]}**: {after[k][2]} ({', '.join(after[k][1])})"

    def moved(k):
        return f"- {k} {before[k][2]}: {before[k][0]} → **{after[k][0]}** ({', '.join(after[k][1])})"

    lines = ["", f"## {title[0].upper() + title[1:]}", "", "### Added", "", *_rows(added, new)]
    lines += ["", "### Removed", "", *_rows(removed, old), "", "### Reclassified", "", *_rows(changed, moved)]
    return lines


def render(previous, vocabulary, found, release):
    """The report: what changed against the previous vocabulary, per review group."""
    lines = ["# Vocabulary change report", ""]
    old_version = previous.get("version", "none") if previous else "none (first build)"
    lines += [f"Vocabulary {old_version} → **{vocabulary['version']}**.", ""]
    if release is not None:
        lines += [
            f"RxNorm release: **{release.version or 'version not stated'}**, dated {release.date or 'not stated'} "
            f"({release.subset}; read from `{release.directory}`).",
            "",
        ]
    else:
        lines += ["No RxNorm release was given: built from the committed source lists only.", ""]
    lines += ["Sources:", ""]
    lines += [
        f"- {s['title']}: {s['version']}" + (f" ({s['date']})" if s.get("date") else "") for s in vocabulary["sources"]
    ]
    tables = {
        "products (RxCUI)": (_records(previous, "rxcui"), _records(vocabulary, "rxcui")),
        "NDCs": (_records(previous, "ndc"), _records(vocabulary, "ndc")),
    }
    old_names, new_names = _names(previous), _names(vocabulary)
    summary = defaultdict(lambda: [0] * 6)
    diffs = {}
    for title, (before, after) in [*tables.items(), ("names and brands", (old_names, new_names))]:
        added, removed, changed = diffs[title] = _diff(before, after)
        column = {"products (RxCUI)": 0, "NDCs": 2, "names and brands": 4}[title]
        for key in added:
            summary[after[key][0]][column] += 1
        for key in removed:
            summary[before[key][0]][column + 1] += 1
    lines += [
        "",
        "## Summary",
        "",
        "| group | products added | products removed | NDCs added | NDCs removed | names added | names removed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, _ in GROUPS:
        if name in summary:
            lines.append(f"| {name} | " + " | ".join(str(n) for n in summary[name]) + " |")
    if not summary:
        lines.append("| (no change) | 0 | 0 | 0 | 0 | 0 | 0 |")
    for title, (before, after) in tables.items():
        lines += _code_sections(title, before, after, diffs[title])
    added, removed, changed = diffs["names and brands"]
    classified = [k for k in added if new_names[k][0] != "ordinary medications"]
    lines += [
        "",
        "## Names and brands",
        "",
        f"{len(added)} added ({len(classified)} of them classified), "
        f"{len(removed)} removed, {len(changed)} reclassified.",
        "",
        "### Added (classified groups)",
        "",
    ]
    lines += _rows(classified, lambda k: f"- {k} **{new_names[k][0]}** ({', '.join(new_names[k][1])})")
    lines += ["", "### Removed", ""]
    lines += _rows(removed, lambda k: f"- {k} {old_names[k][0]} ({', '.join(old_names[k][1])})")
    lines += ["", "### Reclassified", ""]
    lines += _rows(
        changed, lambda k: f"- {k}: {old_names[k][0]} → **{new_names[k][0]}** ({', '.join(new_names[k][1])})"
    )
    if found is not None:
        lines += [
            "",
            "## Retired in this release",
            "",
            "Kept in the vocabulary: a retired code still names the same drug in an old list or a past dispense.",
            "",
        ]
        rxcui = vocabulary["rxcui"]
        lines += _rows(found["retired"], lambda k: f"- {k}: {rxcui[k]['d']}")
        new = sorted(found["new_ingredients"].items())
        lines += [
            "",
            "## New ingredients awaiting review",
            "",
            "Never classified automatically: their products are left out, so a line naming them is reported "
            "as not understood. To review one, add it to `ingredients:` in scripts/vocabulary/curated.yaml "
            "with its classes (or `[]` for an ordinary medication) and rebuild.",
            "",
        ]
        lines += _rows(
            new,
            lambda item: (
                f"- **{item[0][2]}** (RxCUI {item[0][1]}), in: "
                + "; ".join(sorted(item[1])[:3])
                + (f" and {len(item[1]) - 3} more" if len(item[1]) > 3 else "")
            ),
        )
    return "\n".join(lines) + "\n"
