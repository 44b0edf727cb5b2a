"""FHIR R4: reading resources into native requests, fetching them from a FHIR server, DetectedIssue output."""
