"""Every model, imported here so the metadata is complete wherever models are used."""

from complaints.models.case import Assistant, Case, Note, ReferenceCounter, StepRecord
from complaints.models.customer import Customer
from complaints.models.event import Event
from complaints.models.staff import ApiToken, User, UserRole

__all__ = [
    "ApiToken",
    "Assistant",
    "Case",
    "Customer",
    "Event",
    "Note",
    "ReferenceCounter",
    "StepRecord",
    "User",
    "UserRole",
]
