"""What every viewset under /customers/ shares, so the CRUD and the action viewsets agree."""

from config.api.viewsets import lookup_by_field
from customers.selectors import IDENTIFIERS


class CustomerViewMixin:
    """The envelope, ``identify_by`` (the identifiers ``customers.selectors`` resolves) and
    the includes of a customer, wherever one is answered."""

    envelope = "customer"
    envelope_plural = "customers"
    identify_by = {
        name: lookup_by_field(field, normalise) for name, (field, normalise) in IDENTIFIERS.items()
    }
    includes_choices = ("customer.metadata", "customer.tag_details", "customer.segments")
    include_permissions = {"customer.segments": "segments.view_segment"}
