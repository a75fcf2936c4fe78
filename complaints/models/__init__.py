"""Every model, imported here so the metadata is complete wherever models are used."""

from complaints.models.case import Assistant, Case, Note, ReferenceCounter, StepRecord
from complaints.models.customer import Customer
from complaints.models.customer_side import (
    CustomerLink,
    InterimMeasure,
    ProgressUpdate,
    RemedyApproval,
)
from complaints.models.event import Event
from complaints.models.outbox import OutboxMessage
from complaints.models.quality import Audit
from complaints.models.search import CaseSearch
from complaints.models.settings import ForbiddenPhrase, Setting
from complaints.models.staff import ApiToken, User, UserRole

__all__ = [
    "ApiToken",
    "Assistant",
    "Audit",
    "Case",
    "CaseSearch",
    "Customer",
    "CustomerLink",
    "Event",
    "ForbiddenPhrase",
    "InterimMeasure",
    "Note",
    "OutboxMessage",
    "ProgressUpdate",
    "ReferenceCounter",
    "RemedyApproval",
    "Setting",
    "StepRecord",
    "User",
    "UserRole",
]
