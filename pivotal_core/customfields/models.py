"""Definitions of custom fields; their values live in each record's ``custom_fields`` JSON."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin, JSONValue, TimestampMixin

FIELD_TYPES = ("text", "number", "date", "bool", "enum", "tags")
ENTITIES = ("account", "contact")


class CustomFieldDefinition(IdMixin, TimestampMixin, Base):
    __tablename__ = "custom_field_definitions"

    entity: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(60))
    label: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(20))
    options: Mapped[list[Any]] = mapped_column(JSONValue, default=list)
    description: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_custom_field_definitions_entity_key", "entity", "key", unique=True),
    )
