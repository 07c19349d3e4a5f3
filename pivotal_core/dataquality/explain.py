"""Why a field has its value, in words for the staff UI: the survivorship rule that keeps
a value against later imports, and why a merge takes one record's value by default.

The texts follow :class:`~pivotal_core.dataquality.survivorship.SurvivorshipPolicy` step by
step (priority, then time, then a fixed order of values), so they never disagree with the
decision itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pivotal_core.dataquality.survivorship import (
    DEFAULT_FIELD,
    SETTING,
    SurvivorshipPolicy,
    is_blank,
    source_name,
)

Entry = Mapping[str, Any] | None


def priority_origin(policy: SurvivorshipPolicy, name: str) -> str:
    """Where the source priority of field ``name`` is set."""
    if name in policy.rules:
        return f"the survivorship rule for {name}"
    if DEFAULT_FIELD in policy.rules:
        return "the default survivorship rule (*)"
    return f"the {SETTING} setting"


def priority_text(policy: SurvivorshipPolicy, name: str) -> str:
    sources = policy.priority(name)
    return " > ".join(sources) if sources else "no sources listed"


def _rank_words(policy: SurvivorshipPolicy, name: str, entry: Entry) -> str:
    source = source_name(entry)
    if source is None:
        return "no recorded source"
    sources = policy.priority(name)
    if source in sources:
        return f"{source} (#{sources.index(source) + 1})"
    return f"{source} (not listed)"


def _moment(entry: Entry) -> datetime | None:
    at = entry.get("at") if entry else None
    if not isinstance(at, str):
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "no time"


def rule_text(policy: SurvivorshipPolicy, name: str, entry: Entry) -> str | None:
    """What keeps the current value of field ``name`` (provenance ``entry``) against an
    import; None when the field has no provenance."""
    if not entry:
        return None
    if entry.get("manual"):
        return "Typed by a person: imports leave it alone unless they are run with override-manual."
    origin = priority_origin(policy, name)
    order = priority_text(policy, name)
    source = source_name(entry)
    sources = policy.priority(name)
    if source in sources:
        return (
            f"Source priority from {origin}: {order}. {source} ranks "
            f"#{sources.index(source) + 1}, so an import replaces this value only from a "
            "higher-ranked source, or from an equally ranked one with a later as-of time."
        )
    return (
        f"Source priority from {origin}: {order}. {source} is not listed, so any listed "
        "source replaces this value; among unlisted sources the later as-of time wins."
    )


def default_choice_reason(
    policy: SurvivorshipPolicy,
    name: str,
    survivor_value: Any,
    survivor_entry: Entry,
    merged_value: Any,
    merged_entry: Entry,
    default: str,
) -> str:
    """Why a merge takes ``default`` (``survivor`` or ``merged``, as
    :func:`~pivotal_core.dataquality.merge.default_choice` decided) for field ``name``."""
    winner, loser = ("the survivor", "the merged record")
    if default == "merged":
        winner, loser = loser, winner
    if is_blank(survivor_value) and is_blank(merged_value):
        return "Both are blank."
    if survivor_value == merged_value:
        return "Both have the same value."
    if is_blank(survivor_value) or is_blank(merged_value):
        return f"{loser.capitalize()} has no value; a blank never wins."
    ours = policy.rank(name, survivor_entry)
    theirs = policy.rank(name, merged_entry)
    win_entry, lose_entry = (
        (survivor_entry, merged_entry) if default == "survivor" else (merged_entry, survivor_entry)
    )
    if ours != theirs:
        return (
            f"Source priority ({priority_text(policy, name)}): "
            f"{_rank_words(policy, name, win_entry)} ranks above "
            f"{_rank_words(policy, name, lose_entry)}."
        )
    ours_at, theirs_at = _moment(survivor_entry), _moment(merged_entry)
    if ours_at != theirs_at:
        return (
            f"Sources rank the same ({_rank_words(policy, name, win_entry)}, "
            f"{_rank_words(policy, name, lose_entry)}); {winner}'s value is more recent "
            f"({_day(_moment(win_entry))} against {_day(_moment(lose_entry))})."
        )
    return (
        "Same source priority and time: a fixed order of the values decides, so the "
        "result does not depend on which record is merged into which."
    )


__all__ = ["default_choice_reason", "priority_origin", "priority_text", "rule_text"]
