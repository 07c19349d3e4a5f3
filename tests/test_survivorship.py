"""Field-level survivorship: blanks never win, manual values are locked, source priority,
then the later as_of, then a fixed order of the values; any order of the same candidates
ends in the same value and provenance."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor
from pivotal_core.config import merge_settings
from pivotal_core.dataquality.models import SurvivorshipRule
from pivotal_core.dataquality.survivorship import (
    KEEP,
    REPLACE,
    RESTAMP,
    SurvivorshipPolicy,
    load_policy,
    set_rule,
    source_name,
)
from pivotal_core.errors import ValidationFailed
from pivotal_core.testing.fixtures import TEST_SECRET

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = SurvivorshipPolicy.of(["manual", "salesforce", "hubspot"])


def entry(source: str, days: int = 0, batch: int | None = 1, **extra) -> dict:
    value = {"source": source, "at": (T0 + timedelta(days=days)).isoformat(), **extra}
    if batch is not None:
        value["batch"] = batch
    return value


def decide(current, current_entry, incoming, incoming_entry, policy=POLICY, **kw) -> str:
    return policy.decide("title", current, current_entry, incoming, incoming_entry, **kw)


@pytest.mark.parametrize("blank", [None, "", [], {}])
def test_a_blank_never_overwrites(blank):
    current = entry("import:tradeshow", days=0)
    better = entry("import:salesforce", days=30)
    assert decide("CEO", current, blank, better) == KEEP


@pytest.mark.parametrize("blank", [None, "", []])
def test_a_blank_field_takes_any_value(blank):
    assert decide(blank, entry("import:salesforce", 30), "CEO", entry("import:zoominfo")) == REPLACE
    assert decide(blank, None, "CEO", entry("import:zoominfo")) == REPLACE


def test_a_manual_value_is_locked_unless_overridden():
    typed = {"source": "ui", "at": T0.isoformat(), "manual": True, "actor_id": 3}
    incoming = entry("import:salesforce", days=365)
    assert decide("CEO", typed, "CTO", incoming) == KEEP
    assert decide("CEO", typed, "CTO", incoming, override_manual=True) == REPLACE
    # Overriding with the same value changes nothing: the person's provenance stays.
    assert decide("CEO", typed, "CEO", incoming, override_manual=True) == KEEP
    # A field a person cleared is locked too.
    assert decide(None, typed, "CTO", incoming) == KEEP


def test_the_higher_priority_source_wins_whatever_the_dates():
    sf_old = entry("import:salesforce", days=0)
    hs_new = entry("import:hubspot", days=300)
    assert decide("CEO", sf_old, "CTO", hs_new) == KEEP
    assert decide("CTO", hs_new, "CEO", sf_old) == REPLACE


def test_unlisted_sources_rank_below_listed_ones_and_equal_among_themselves():
    listed = entry("import:hubspot", days=0)
    unlisted_late = entry("import:tradeshow", days=100)
    assert decide("A", listed, "B", unlisted_late) == KEEP
    earlier = entry("import:zoominfo", days=1)
    later = entry("import:tradeshow", days=2)
    assert decide("A", earlier, "B", later) == REPLACE
    assert decide("B", later, "A", earlier) == KEEP


def test_equal_priority_the_later_as_of_wins():
    older = entry("import:hubspot", days=1)
    newer = entry("import:hubspot", days=2)
    assert decide("A", older, "B", newer) == REPLACE
    assert decide("B", newer, "A", older) == KEEP


def test_at_compares_moments_not_text():
    # 10:00+02:00 is 08:00 UTC: earlier than 09:00 UTC although its text sorts later.
    plus_two = {"source": "import:hubspot", "at": "2026-01-01T10:00:00+02:00", "batch": 1}
    utc = {"source": "import:hubspot", "at": "2026-01-01T09:00:00+00:00", "batch": 2}
    assert decide("A", plus_two, "B", utc) == REPLACE


def test_a_full_tie_is_broken_by_the_values_the_same_way_in_both_orders():
    one = entry("import:hubspot", days=5, batch=1)
    two = entry("import:hubspot", days=5, batch=2)
    forward = decide("Alpha", one, "Beta", two)
    backward = decide("Beta", two, "Alpha", one)
    # Exactly one of the two keeps its value: the same one either way.
    assert {forward, backward} == {KEEP, REPLACE}
    assert forward == REPLACE  # "Beta" sorts after "Alpha" canonically


def test_an_equal_value_with_better_provenance_is_restamped():
    old = entry("import:hubspot", days=1, batch=1)
    new = entry("import:hubspot", days=2, batch=2)
    assert decide("CEO", old, "CEO", new) == RESTAMP
    assert decide("CEO", new, "CEO", old) == KEEP
    # The same batch again: nothing to do.
    assert decide("CEO", new, "CEO", dict(new)) == KEEP


def test_a_value_without_provenance_ranks_below_everything():
    assert decide("Old", None, "New", entry("import:tradeshow", days=-999)) == REPLACE
    assert decide("Old", {}, "New", entry("import:tradeshow", days=-999)) == REPLACE


def test_rules_per_field_then_star_then_the_default():
    policy = SurvivorshipPolicy.of(
        ["salesforce", "hubspot"], {"title": ["hubspot", "salesforce"], "*": ["zoominfo"]}
    )
    hs = entry("import:hubspot")
    sf = entry("import:salesforce")
    zi = entry("import:zoominfo", days=-5)
    assert policy.decide("title", "A", sf, "B", hs) == REPLACE  # title: hubspot first
    assert policy.decide("city", "A", sf, "B", zi) == REPLACE  # *: zoominfo first
    assert policy.priority("city") == ("zoominfo",)
    plain = SurvivorshipPolicy.of(["salesforce", "hubspot"])
    assert plain.decide("city", "A", sf, "B", hs) == KEEP  # no rules: the default


def test_source_names():
    assert source_name({"source": "import:HubSpot"}) == "hubspot"
    assert source_name({"source": "ui", "manual": True}) == "manual"
    assert source_name({"source": "api"}) == "api"
    assert source_name(None) is None


def test_choose_picks_the_surviving_candidate():
    candidates = [
        (None, entry("import:salesforce", 9)),
        ("hubspot value", entry("import:hubspot", 1)),
        ("salesforce value", entry("import:salesforce", 0)),
        ("", entry("import:salesforce", 10)),
    ]
    assert POLICY.choose("title", candidates)[0] == "salesforce value"
    assert POLICY.choose("title", [(None, None), ("", None)]) is None


def test_the_setting_is_a_list_with_a_default():
    settings_ = merge_settings({"auth.secret": TEST_SECRET}, environ={})
    assert settings_["dataquality.source_priority"] == ["manual", "salesforce", "hubspot"]
    custom = merge_settings(
        {"auth.secret": TEST_SECRET, "dataquality.source_priority": "manual, zoominfo"},
        environ={},
    )
    assert custom["dataquality.source_priority"] == ["manual", "zoominfo"]


def test_load_policy_reads_the_rules_and_set_rule_audits(dbsession):
    actor = Actor.system("test")
    set_rule(dbsession, actor, "contact", "title", ["HubSpot", "salesforce"])
    set_rule(dbsession, actor, "contact", "*", ["zoominfo"])
    set_rule(dbsession, actor, "account", "name", ["clearbit"])
    policy = load_policy(dbsession, "contact", ["salesforce"])
    assert policy.priority("title") == ("hubspot", "salesforce")
    assert policy.priority("phone") == ("zoominfo",)
    assert load_policy(dbsession, "account", "salesforce hubspot").priority("city") == (
        "salesforce",
        "hubspot",
    )
    # Replacing a rule updates the row and says so in the audit trail.
    rule = set_rule(dbsession, actor, "contact", "title", ["salesforce"])
    assert dbsession.scalar(
        select(SurvivorshipRule.sources).where(SurvivorshipRule.id == rule.id)
    ) == ["salesforce"]
    events = dbsession.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == "survivorship_rule", AuditEvent.entity_id == rule.id
        )
    ).all()
    assert [(e.action, e.new_value) for e in events] == [
        ("create", {"sources": ["hubspot", "salesforce"]}),
        ("update", ["salesforce"]),
    ]
    with pytest.raises(ValidationFailed) as exc:
        set_rule(dbsession, actor, "lead", "", ["a", "a"])
    assert set(exc.value.fields) == {"entity", "field", "sources"}


SOURCES = ["manual", "salesforce", "hubspot", "tradeshow", "zoominfo"]
candidate = st.tuples(
    st.sampled_from([None, "", "Alpha", "Beta", "Gamma"]),
    st.sampled_from(SOURCES[1:]),
    st.integers(min_value=0, max_value=3),
    st.integers(min_value=1, max_value=4),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(candidate, min_size=1, max_size=6))
def test_any_order_of_the_same_candidates_ends_the_same(candidates):
    """Folding candidates with decide() is order-independent (value and provenance)."""

    def fold(order):
        value, provenance = None, None
        for incoming, source, day, batch in order:
            incoming_entry = entry(f"import:{source}", days=day, batch=batch)
            verdict = POLICY.decide("title", value, provenance, incoming, incoming_entry)
            if verdict != KEEP:
                value, provenance = incoming, incoming_entry
        return value, provenance

    # The same batch always carries the same source and date (as imports do).
    by_batch: dict[int, tuple[str, int]] = {}
    normal = [(v, *by_batch.setdefault(b, (s, d)), b) for v, s, d, b in candidates]
    outcomes = {
        repr(fold(order)) for order in itertools.islice(itertools.permutations(normal), 120)
    }
    assert len(outcomes) == 1


def _reference_decide(policy, name, current, current_entry, incoming, incoming_entry, override):
    """decide() as its docstring states it, built on outranks() (the order itself)."""
    if incoming is None or incoming == "" or incoming == [] or incoming == {}:
        return KEEP
    if current_entry and current_entry.get("manual"):
        return KEEP if not override or current == incoming else REPLACE
    if current is None or current == "" or current == [] or current == {}:
        return REPLACE
    if not policy.outranks(name, incoming, incoming_entry, current, current_entry):
        return KEEP
    return RESTAMP if incoming == current else REPLACE


stored_entry = st.one_of(
    st.none(),
    st.just({}),
    st.builds(
        lambda source, day, batch, manual: (
            entry(source, days=day, batch=batch) | ({"manual": True} if manual else {})
        ),
        st.sampled_from(["import:salesforce", "import:HubSpot", "api", "zoominfo", "manual"]),
        st.integers(min_value=0, max_value=2),
        st.sampled_from([None, 1, 2]),
        st.booleans(),
    ),
    st.fixed_dictionaries({"source": st.sampled_from([None, 3, ["x"]]), "at": st.just("bad")}),
)


@settings(max_examples=400, deadline=None)
@given(
    batch_entry=st.builds(
        lambda source, day, batch: entry(source, days=day, batch=batch),
        st.sampled_from(["import:salesforce", "import:hubspot", "import:tradeshow"]),
        st.integers(min_value=0, max_value=2),
        st.sampled_from([1, 2]),
    ),
    override=st.booleans(),
    calls=st.lists(
        st.tuples(
            st.sampled_from(["title", "phone", "tags"]),
            st.sampled_from([None, "", [], "Alpha", "Beta", ["a"]]),
            stored_entry,
            st.sampled_from([None, "", [], "Alpha", "Beta", ["a"]]),
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_a_batch_decider_agrees_with_the_order(batch_entry, override, calls):
    """The decider an import uses for all its values (with what it caches between calls)
    says what the order says, call after call."""
    policy = SurvivorshipPolicy.of(["manual", "salesforce", "hubspot"], {"phone": ["hubspot"]})
    decide = policy.decider(batch_entry, override_manual=override)
    for name, current, current_entry, incoming in calls:
        expected = _reference_decide(
            policy, name, current, current_entry, incoming, batch_entry, override
        )
        assert decide(name, current, current_entry, incoming) == expected
