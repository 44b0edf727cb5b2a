"""CDS Hooks 2.0 services (order-select, order-sign over FHIR R4): FHIR in, the native pipeline, cards out."""

from flask import Blueprint

bp = Blueprint("cds_hooks", __name__)

from service.cds_hooks import views  # noqa: E402, F401  (registers the routes on bp)
