"""The shared wham/usage decoder: never anything but a snapshot or a SourceError."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from codexbar.errors import SourceError
from codexbar.wham import parse_wham_usage

NOW = datetime(2026, 11, 21, 0, 5, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)

# Bodies that look like the real thing, with every field free to be anything.
window = st.fixed_dictionaries(
    {},
    optional={
        "used_percent": json_values,
        "limit_window_seconds": json_values,
        "reset_after_seconds": json_values,
        "reset_at": json_values,
    },
)
rate_limit = st.fixed_dictionaries(
    {},
    optional={
        "primary_window": window | json_values,
        "secondary_window": window | json_values,
        "limit_reached": json_values,
    },
)
plausible_body = st.fixed_dictionaries(
    {},
    optional={
        "plan_type": json_values,
        "rate_limit": rate_limit | json_values,
        "credits": st.fixed_dictionaries(
            {}, optional={"balance": json_values, "has_credits": json_values}
        )
        | json_values,
        "additional_rate_limits": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "limit_name": json_values,
                    "metered_feature": json_values,
                    "rate_limit": rate_limit | json_values,
                },
            ),
            max_size=3,
        )
        | json_values,
        "code_review_rate_limit": rate_limit | json_values,
        "email": json_values,
        "account_id": json_values,
    },
)


def _parse(body):
    try:
        snapshot = parse_wham_usage(body, source="oauth", fetched_at=NOW)
    except SourceError:
        return None
    # Whatever came out must be usable by every view.
    for w in snapshot.windows:
        assert 0.0 <= w.remaining_percent <= 100.0
        assert w.id and w.label
    return snapshot


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_source_error(body):
    _parse(body)


@settings(max_examples=500, deadline=None)
@given(plausible_body)
def test_plausible_bodies_never_raise_anything_but_source_error(body):
    _parse(body)


def test_window_without_percent_is_dropped_and_credits_only_body_still_reads():
    snapshot = parse_wham_usage(
        {"rate_limit": None, "credits": {"balance": "0E-10", "has_credits": False}},
        source="oauth",
        fetched_at=NOW,
    )
    assert snapshot.windows == ()
    assert snapshot.credits.balance_text == "0.0000000000"


def test_empty_body_is_a_parse_error():
    try:
        parse_wham_usage({}, source="oauth", fetched_at=NOW)
    except SourceError as error:
        assert error.kind.value == "parse"
    else:
        raise AssertionError("an empty body must not read as a snapshot")
