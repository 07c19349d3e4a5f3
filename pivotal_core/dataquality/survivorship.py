"""Field-level survivorship: which of two values a field keeps, judged by their provenance.

Each source of data has a priority per entity and field (``survivorship_rules``; the field
``*`` covers the fields without a rule of their own; the ``dataquality.source_priority``
setting covers entities without any rule). A value a person typed is locked against
imports unless the import says otherwise. Between two candidates the higher-priority
source wins, then the later ``at`` (an import's ``as_of``), then a fixed order of the
values themselves. That is a total order, so the value a field ends with depends only on
the set of candidates it saw, never on the order they arrived in.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor, audit_value, record_changes
from pivotal_core.config import CORE_DEFAULTS, as_list
from pivotal_core.dataquality.models import IMPORT_ENTITIES, SurvivorshipRule
from pivotal_core.errors import ValidationFailed

__all__ = [
    "DEFAULT_FIELD",
    "KEEP",
    "MANUAL",
    "REPLACE",
    "RESTAMP",
    "SurvivorshipPolicy",
    "canonical",
    "is_blank",
    "load_policy",
    "set_rule",
    "source_name",
]

# What decide() says about an incoming value.
KEEP = "keep"  # the current value and its provenance stay
REPLACE = "replace"  # the incoming value and its provenance win
RESTAMP = "restamp"  # same value, but the incoming provenance outranks the current one

DEFAULT_FIELD = "*"
MANUAL = "manual"
IMPORT_PREFIX = "import:"
SETTING = "dataquality.source_priority"

_EPOCH = datetime.min.replace(tzinfo=UTC)


def is_blank(value: Any) -> bool:
    """Nothing there: a blank never overwrites a value."""
    return value is None or value == "" or value == [] or value == {} or value == ()


def source_name(entry: Mapping[str, Any] | None) -> str | None:
    """The name a provenance entry ranks by: ``manual`` for a person's edit, otherwise its
    source without the ``import:`` prefix (``import:hubspot`` ranks as ``hubspot``)."""
    if not entry:
        return None
    if entry.get("manual"):
        return MANUAL
    source = entry.get("source")
    if not isinstance(source, str):
        return None
    if source.startswith(IMPORT_PREFIX):
        source = source[len(IMPORT_PREFIX) :]
    return source.lower()


def canonical(value: Any) -> str:
    """A fixed text form of a value: the last tie-break, the same on every database."""
    return json.dumps(audit_value(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=4096)
def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return _EPOCH
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _at(entry: Mapping[str, Any] | None) -> datetime:
    at = entry.get("at") if entry else None
    return _moment(at) if isinstance(at, str) else _EPOCH


def _batch(entry: Mapping[str, Any] | None) -> int:
    batch = entry.get("batch") if entry else None
    return batch if isinstance(batch, int) else -1


@dataclass(frozen=True)
class SurvivorshipPolicy:
    """Source priorities of one entity: ``rules`` by field, else ``default``."""

    default: tuple[str, ...]
    rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # {field: {source: rank}}, filled on first use.
    _rank_cache: dict[str, dict[str, int]] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def of(
        cls, default: Sequence[str], rules: Mapping[str, Sequence[str]] | None = None
    ) -> SurvivorshipPolicy:
        return cls(
            tuple(s.strip().lower() for s in default if s.strip()),
            {f: tuple(s.strip().lower() for s in v if s.strip()) for f, v in (rules or {}).items()},
        )

    def priority(self, name: str) -> tuple[str, ...]:
        """Sources of ``name``, highest priority first."""
        found = self.rules.get(name)
        if found is None:
            found = self.rules.get(DEFAULT_FIELD, self.default)
        return found

    def _ranks(self, name: str) -> dict[str, int]:
        ranks = self._rank_cache.get(name)
        if ranks is None:
            ranks = self._rank_cache[name] = {}
            for position, source in enumerate(self.priority(name)):
                ranks.setdefault(source, position)
        return ranks

    def rank(self, name: str, entry: Mapping[str, Any] | None) -> int:
        """0 is the highest priority. Unlisted sources share the rank after the listed ones;
        a value without provenance ranks below everything."""
        ranks = self._ranks(name)
        if not entry:
            return len(ranks) + 1
        return ranks.get(source_name(entry), len(ranks))  # type: ignore[arg-type]

    def outranks(
        self,
        name: str,
        value: Any,
        entry: Mapping[str, Any] | None,
        other: Any,
        other_entry: Mapping[str, Any] | None,
    ) -> bool:
        """Whether ``(value, entry)`` comes strictly before ``(other, other_entry)``:
        priority, then the later ``at``, then the canonical value, then the later batch."""
        mine, theirs = self.rank(name, entry), self.rank(name, other_entry)
        if mine != theirs:
            return mine < theirs
        mine_at, their_at = _at(entry), _at(other_entry)
        if mine_at != their_at:
            return mine_at > their_at
        if value != other:
            return canonical(value) > canonical(other)
        return _batch(entry) > _batch(other_entry)

    def decide(
        self,
        name: str,
        current: Any,
        current_entry: Mapping[str, Any] | None,
        incoming: Any,
        incoming_entry: Mapping[str, Any],
        *,
        override_manual: bool = False,
    ) -> str:
        """KEEP, REPLACE or RESTAMP for an ``incoming`` value of field ``name``."""
        decide = self.decider(incoming_entry, override_manual=override_manual)
        return decide(name, current, current_entry, incoming)

    def decider(
        self, incoming_entry: Mapping[str, Any], *, override_manual: bool = False
    ) -> Callable[[str, Any, Mapping[str, Any] | None, Any], str]:
        """:meth:`decide` for many values that share one provenance (an import batch's):
        ``decide(name, current, current_entry, incoming)``. What depends only on the
        incoming entry is worked out once; a million-row re-import asks millions of times.
        """
        mine_source = source_name(incoming_entry)
        mine_at = _at(incoming_entry)
        mine_batch = _batch(incoming_entry)
        ranks_of = self._ranks
        # {stored source: the name it ranks by} of entries that are not manual.
        names: dict[str, str | None] = {}

        def decide(
            name: str, current: Any, current_entry: Mapping[str, Any] | None, incoming: Any
        ) -> str:
            if is_blank(incoming):
                return KEEP
            if current_entry and current_entry.get("manual"):
                # A person decided this field (even to clear it): imports leave it alone
                # unless told to override, and an override of an equal value changes nothing.
                if not override_manual or current == incoming:
                    return KEEP
                return REPLACE
            if is_blank(current):
                return REPLACE
            # Whether the incoming value outranks the current one (see outranks()).
            ranks = ranks_of(name)
            unlisted = len(ranks)
            mine = ranks.get(mine_source, unlisted) if incoming_entry else unlisted + 1
            if not current_entry:
                theirs = unlisted + 1
            else:
                stored = current_entry.get("source")
                known = None
                if type(stored) is str:
                    known = names.get(stored)
                    if known is None:
                        known = names[stored] = source_name(current_entry)
                theirs = ranks.get(known, unlisted)  # type: ignore[arg-type]
            if mine != theirs:
                wins = mine < theirs
            else:
                their_at = _at(current_entry)
                if mine_at != their_at:
                    wins = mine_at > their_at
                elif incoming != current:
                    wins = canonical(incoming) > canonical(current)
                else:
                    wins = mine_batch > _batch(current_entry)
            if not wins:
                return KEEP
            return RESTAMP if incoming == current else REPLACE

        return decide

    def choose(
        self, name: str, candidates: Iterable[tuple[Any, Mapping[str, Any] | None]]
    ) -> tuple[Any, Mapping[str, Any] | None] | None:
        """The candidate ``(value, provenance)`` that survives among non-blank ones (for
        merges); None when all are blank. Manual values are not treated as locked here."""
        best: tuple[Any, Mapping[str, Any] | None] | None = None
        for value, entry in candidates:
            if is_blank(value):
                continue
            if best is None or self.outranks(name, value, entry, best[0], best[1]):
                best = (value, entry)
        return best


def load_policy(
    session: Session, entity: str, default_priority: Sequence[str] | str | None = None
) -> SurvivorshipPolicy:
    """The policy of ``entity`` from ``survivorship_rules``; ``default_priority`` (the
    ``dataquality.source_priority`` setting; its default when None) covers the rest."""
    if default_priority is None:
        default_priority = CORE_DEFAULTS[SETTING]
    rows = session.execute(
        select(SurvivorshipRule.field, SurvivorshipRule.sources).where(
            SurvivorshipRule.entity == entity
        )
    )
    return SurvivorshipPolicy.of(as_list(default_priority), {f: list(s or []) for f, s in rows})


def set_rule(
    session: Session, actor: Actor, entity: str, name: str, sources: Sequence[str]
) -> SurvivorshipRule:
    """Create or replace the source priority of one field (``*``: the entity's default)."""
    errors: dict[str, str] = {}
    if entity not in IMPORT_ENTITIES:
        errors["entity"] = f"must be one of {', '.join(IMPORT_ENTITIES)}"
    if not name or len(name) > 100:
        errors["field"] = "must be a field name (or * for every field) of 1 to 100 characters"
    cleaned = [s.strip().lower() for s in sources if s and s.strip()]
    if not cleaned:
        errors["sources"] = "must name at least one source"
    elif len(set(cleaned)) != len(cleaned):
        errors["sources"] = "must not name a source twice"
    if errors:
        raise ValidationFailed(errors)
    rule = session.scalars(
        select(SurvivorshipRule).where(
            SurvivorshipRule.entity == entity, SurvivorshipRule.field == name
        )
    ).first()
    old = list(rule.sources) if rule is not None else None
    if rule is None:
        rule = SurvivorshipRule(entity=entity, field=name, sources=cleaned)
        session.add(rule)
    else:
        rule.sources = cleaned
    session.flush()
    if old != cleaned:
        record_changes(
            session,
            actor,
            "survivorship_rule",
            rule.id,
            "create" if old is None else "update",
            {"sources": (old, cleaned)},
        )
    return rule
