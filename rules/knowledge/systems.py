"""Code systems: the canonical URIs the service compares against, and the other spellings callers send."""

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"

# HL7 OIDs of the same systems (CDA, v2 and many FHIR servers send these in Coding.system).
_OIDS = {
    "2.16.840.1.113883.6.88": RXNORM,
    "2.16.840.1.113883.6.69": NDC,
    "2.16.840.1.113883.6.90": ICD10CM,
    "2.16.840.1.113883.6.96": SNOMED,
}
_SPELLINGS = {uri.lower(): uri for uri in (RXNORM, NDC, ICD10CM, SNOMED)}
_SPELLINGS.update({f"urn:oid:{oid}": uri for oid, uri in _OIDS.items()})
_SPELLINGS.update({oid: uri for oid, uri in _OIDS.items()})


def canonical_system(system: str) -> str:
    """The canonical URI of a code system written as a URI (any case, trailing slash) or an OID; else as given."""
    text = system.strip()
    return _SPELLINGS.get(text.lower().rstrip("/"), text)
