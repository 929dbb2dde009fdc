"""The importer's fast path must agree with clean_new on every row it accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from resellctl.domain import clients
from resellctl.domain.errors import FieldInvalid

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def rules(partner: bool) -> clients.Policy:
    return clients.Policy(reseller_id=1, partner_supported=partner,
                          plans=frozenset({"business-location", "enterprise"}), now=NOW,
                          trial_ends_at=NOW + timedelta(days=21))


def cells(*good: str) -> st.SearchStrategy:
    """Plausible values, edge cases and arbitrary text for one column."""
    edge = ["", " ", "  x  ", "²", "١٢", "\t", "=1+1", "-5", "x" * 201, "x" * 65]
    return st.one_of(st.sampled_from([*good, *edge]), st.text(max_size=30), st.none(),
                     st.integers(-3, 30), st.booleans())  # JSON lines carry non-text values


VALID = {"name": "Acme", "owner_name": "Ana", "owner_email": "ana@acme.example",
         "owner_phone": "+1 555 0100", "location": "Lisbon", "stage": "lead",
         "plan": "business-location", "seats": "3", "support_type": "vendor",
         "support_access": "false", "external_id": "E-1"}
COLUMNS = {
    "name": cells("Acme", " Café ☕ "),
    "owner_name": cells("Ana"),
    "owner_email": cells("ana@acme.example", " Ana@Acme.Example ", "not-an-email"),
    "owner_phone": cells("+1 555 0100", "12345", "123456", "123456789012345678901",
                         "12345678901234567890"),
    "location": cells("Lisbon"),
    "stage": cells("lead", "demo", "trial", "active", " trial "),
    "plan": cells("business-location", "enterprise", "nope"),
    "seats": cells("0", "12", " 7 ", "-1", "1.5"),
    "support_type": cells("vendor", "partner", "Partner"),
    "support_access": cells("true", "false", "yes", "no", "1", "0", "on", "off", "maybe"),
    "external_id": cells("E-1", " E-2 "),
}
# A valid row with one to three cells replaced: most rows reach the fast path's last checks.
ROWS = st.builds(lambda changes: {**VALID, **changes},
                 st.dictionaries(st.sampled_from(sorted(COLUMNS)), st.just(None),
                                 min_size=1, max_size=3)
                 .flatmap(lambda keys: st.fixed_dictionaries({k: COLUMNS[k] for k in keys})))


@settings(max_examples=1500, deadline=None)
@given(row=ROWS, partner=st.booleans())
def test_fast_path_accepts_only_what_clean_new_accepts_and_agrees(row, partner):
    policy = rules(partner)
    fast = clients.fast_clean(row, policy)
    try:
        slow = clients.clean_new(row, policy)
    except FieldInvalid:
        slow = None
    if fast is not None:
        assert fast == slow


def test_fast_path_takes_the_common_row():
    row = {"name": "Acme", "owner_name": "Ana", "owner_email": "ana@acme.example",
           "owner_phone": "+1 555 0100 0000", "location": "Lisbon", "stage": "trial",
           "plan": "business-location", "seats": "3", "support_type": "vendor",
           "support_access": "false", "external_id": "E-1"}
    assert clients.fast_clean(row, rules(False)) == clients.clean_new(row, rules(False))
