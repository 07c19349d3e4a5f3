"""Import every core model so that the metadata is complete (Alembic, tests)."""

from pivotal_core.accounts.models import Account
from pivotal_core.audience.models import AudienceList, ListMember, SavedFilter, Segment
from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.models import LoginFailure, RefreshToken
from pivotal_core.compliance.models import Consent, Suppression
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.dataquality.models import (
    DuplicateCandidate,
    ErasedIdentity,
    ImportBatch,
    ImportMapping,
    ImportRejection,
    Merge,
    RecordRedirect,
    SurvivorshipRule,
)
from pivotal_core.jobs.models import Job
from pivotal_core.users.models import User

__all__ = [
    "Account",
    "AudienceList",
    "AuditEvent",
    "Consent",
    "Contact",
    "ContactIdentifier",
    "CustomFieldDefinition",
    "DuplicateCandidate",
    "ErasedIdentity",
    "ImportBatch",
    "ImportMapping",
    "ImportRejection",
    "Merge",
    "RecordRedirect",
    "SurvivorshipRule",
    "Job",
    "ListMember",
    "LoginFailure",
    "RefreshToken",
    "SavedFilter",
    "Segment",
    "Suppression",
    "User",
]
