"""Suppressions (email, domain, phone) and consents (contact, channel): the rows the
compliance gate and the audience engine's compliance filters read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin, JSONValue, TimestampMixin, utcnow

SUPPRESSION_KINDS = ("email", "domain", "phone")
CONSENT_CHANNELS = ("email", "phone", "sms")
CONSENT_STATUSES = ("granted", "withdrawn")


class Suppression(IdMixin, TimestampMixin, Base):
    """One suppressed email address, email domain or phone number (normalized)."""

    __tablename__ = "suppressions"

    kind: Mapped[str] = mapped_column(String(20))
    # Normalized like the records it matches: lower-case email, registrable domain, E.164.
    value: Mapped[str] = mapped_column(String(254))
    # unsubscribe, bounce, complaint, dnc, manual, ...
    reason: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(120))
    suppressed_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("uq_suppressions_kind_value", "kind", "value", unique=True),)


class Consent(IdMixin, TimestampMixin, Base):
    """The current consent of one contact for one channel; its history is in the audit trail."""

    __tablename__ = "consents"

    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    # consent, legitimate_interest, contract, ...
    basis: Mapped[str | None] = mapped_column(String(40))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("uq_consents_contact_id_channel", "contact_id", "channel", unique=True),
    )
