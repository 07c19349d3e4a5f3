"""What the file readers hand to the upsert engine: one prepared row of an import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImportOptions:
    """Choices made for one import batch."""

    # Contacts whose company is not an account yet get one (by email or explicit domain).
    create_accounts: bool = False
    # Overwrite values a person typed in (normally locked against imports).
    override_manual: bool = False
    # Import rows that match a privacy-erased person (normally skipped with a reason).
    allow_erased: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ImportOptions:
        return cls(**{k: bool(values.get(k, False)) for k in cls.__dataclass_fields__})

    def as_dict(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class PreparedRow:
    """One data row after mapping and normalization.

    ``values`` holds only non-blank, normalized field values by field name (custom fields
    as ``custom_fields.<key>``); a blank cell never appears, so it can never overwrite.
    A row with ``errors`` is rejected whole, with those reasons.
    """

    number: int
    values: dict[str, Any]
    raw: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)
    # Contacts only: the company named by the row, used to attach it to an account.
    account_domain: str | None = None
    account_name: str | None = None
