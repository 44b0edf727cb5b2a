"""Alerts -> CDS Hooks cards: summary, Markdown detail, indicator, override reasons and actions on the drafts."""

import json
import re
import uuid

from rules import actions
from rules.catalogue import RULES_BY_ID
from rules.common import SUMMARY_LIMIT

SOURCE_LABEL = "LDN safety rules"
RULE_CODE_SYSTEM = "https://ldn-safety.example/fhir/CodeSystem/ldn-rule-code"
OVERRIDE_SYSTEM = "https://ldn-safety.example/fhir/CodeSystem/ldn-override-reason"
CARD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ldn-safety.example/cds-hooks/cards")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|~])")


def _markdown(text):
    """Plain text safe inside Markdown: medication names come from the EHR and must not become links or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _detail(alert):
    lines = [_markdown(alert["rationale"]), "", f"**Recommendation:** {_markdown(alert['recommendation'])}"]
    if alert["references"]:
        lines += ["", "**Evidence**", ""]
        for ref in alert["references"]:
            lines.append(f"- *{_markdown(ref['title'])}*: {_markdown(ref['citation'])}")
    return "\n".join(lines)


def _summary(text):
    """A card summary is fewer than 140 characters (CDS Hooks); the rules already write them so."""
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1].rstrip() + "…"


def _prune(value):
    """Drop None, empty strings, lists and objects everywhere: CDS Hooks omits what has no value."""
    if isinstance(value, dict):
        pruned = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        pruned = [_prune(v) for v in value]
        return [v for v in pruned if v not in (None, "", [], {})]
    return value


def _delete_suggestion(card_id, label, ids, translation):
    actions = [
        {
            "type": "delete",
            "description": f"Remove the draft order for {translation.origins[i]['name'] or i}.",
            "resourceId": translation.origins[i]["reference"],
        }
        for i in ids
    ]
    return {"label": label, "uuid": str(uuid.uuid5(card_id, label)), "actions": actions}


def _compounded_ldn_order(dose_mg, context):
    """A draft MedicationRequest for compounded LDN capsules at bedtime."""
    resource = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": actions.compounded_ldn_product(dose_mg)},
        "subject": {"reference": f"Patient/{context['patientId'].removeprefix('Patient/')}"},
        "dosageInstruction": [
            {
                "text": actions.COMPOUNDED_LDN_SIG,
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "capsule"}}],
            }
        ],
    }
    if context.get("encounterId"):
        resource["encounter"] = {"reference": f"Encounter/{context['encounterId'].removeprefix('Encounter/')}"}
    return resource


def _suggestions(card_id, alert, result, translation, context):
    """Concrete actions on the draft orders: remove an opioid or naltrexone draft, replace a divided tablet."""
    views = {m["id"]: m for m in result.medications}
    drafts = [
        i
        for i in alert["medications"]
        if translation.origins.get(i, {}).get("draft") and translation.origins[i]["reference"]
    ]

    def of_class(cls):
        return [i for i in drafts if cls in views.get(i, {}).get("classes", ())]

    suggestions = []
    code = alert["code"]
    if code in actions.REMOVE_OPIOID_DRAFTS and of_class("opioid_agonist"):
        opioids = of_class("opioid_agonist")
        label = "Remove the draft opioid order" + ("s" if len(opioids) > 1 else "")
        suggestions.append(_delete_suggestion(card_id, label, opioids, translation))
    if code in actions.REMOVE_NALTREXONE_DRAFTS and of_class("naltrexone_product"):
        naltrexone = of_class("naltrexone_product")
        label = "Remove the draft naltrexone order" + ("s" if len(naltrexone) > 1 else "")
        suggestions.append(_delete_suggestion(card_id, label, naltrexone, translation))
    if code in actions.REPLACE_WITH_COMPOUNDED_LDN:
        for med_id in of_class("naltrexone_product"):
            dose = actions.replacement_ldn_dose(views[med_id].get("dose_mg"))
            label = f"Replace with compounded low-dose naltrexone {dose:g} mg capsules"
            suggestion = _delete_suggestion(card_id, label, [med_id], translation)
            suggestion["actions"].append(
                {
                    "type": "create",
                    "description": f"Order naltrexone {dose:g} mg capsules (compounded), 1 capsule at bedtime.",
                    "resource": _compounded_ldn_order(dose, context),
                }
            )
            suggestions.append(suggestion)
    return suggestions


def card_for(alert, result, translation, context):
    """One CDS Hooks card for one alert; the uuid is stable for the same patient, rule and orders."""
    patient = context["patientId"].removeprefix("Patient/")
    card_id = uuid.uuid5(CARD_NAMESPACE, json.dumps([patient, alert["rule"], sorted(alert["medications"])]))
    rule = RULES_BY_ID.get(alert["rule"])
    url = next((ref["url"] for ref in alert["references"] if ref.get("url")), None)
    card = {
        "uuid": str(card_id),
        "summary": _summary(alert["summary"]),
        "detail": _detail(alert),
        "indicator": actions.CDS_INDICATOR[alert["severity"]],
        "source": {
            "label": SOURCE_LABEL,
            "url": url,
            "topic": {"system": RULE_CODE_SYSTEM, "code": alert["code"], "display": rule.summary if rule else None},
        },
        "overrideReasons": [
            {"system": OVERRIDE_SYSTEM, "code": code, "display": display}
            for code, display in actions.override_reasons(alert["code"])
        ],
        "links": [
            {"label": ref["title"], "url": ref["url"], "type": "absolute"}
            for ref in alert["references"]
            if ref.get("url")
        ],
    }
    suggestions = _suggestions(card_id, alert, result, translation, context)
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = "at-most-one"
    return _prune(card)


def left_out_card(count, context):
    """An info card: prefetched resources named another patient and were not used for this patient's check."""
    patient = context["patientId"].removeprefix("Patient/")
    card_id = uuid.uuid5(CARD_NAMESPACE, json.dumps([patient, "left-out", count]))
    noun = "resource" if count == 1 else "resources"
    return {
        "uuid": str(card_id),
        "summary": f"{count} prefetched {noun} named another patient and {'was' if count == 1 else 'were'} left out.",
        "detail": (
            f"The EHR's prefetch held {count} {noun} whose subject is not this patient. They were not used: "
            "medications or conditions of another patient must not decide this patient's alerts. The check ran "
            "on the rest; if this patient's own data were among them, it was not checked."
        ),
        "indicator": "info",
        "source": {"label": SOURCE_LABEL, "topic": {"system": RULE_CODE_SYSTEM, "code": "prefetch-other-patient"}},
    }
