"""The importer's fast path must agree with clean_new on every row it accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import event, given, settings
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


# ---------------------------------------------------------------- a block, column by column

TEXT_EDGE = ["", " ", "  x  ", "²", "١٢", "\t", "\r", "\n", "=1+1", "-5", "x" * 201, "x" * 65,
             "İ", "\u00a0"]


def text_cells(*good: str) -> st.SearchStrategy:
    """Like cells(), but text only (a CSV cell is always a string), and the column's
    plausible values (valid or nearly so) as likely as the edge cases and arbitrary text."""
    return st.one_of(st.sampled_from(good), st.sampled_from(TEXT_EDGE), st.text(max_size=30))


# Per column: values valid or nearly so (the boundaries of each check).
AWKWARD = {
    "name": ["Acme", " Café ☕ ", "n" * 200, "n" * 201],
    "owner_name": ["Ana", "o" * 201],
    "owner_email": ["ana@acme.example", " Ana@Acme.Example ", "not-an-email", "a@b",
                    "x@" + "a" * 320 + ".example"],
    "owner_phone": ["+1 555 0100", "12345", "123456", "123456789012345678901",
                    "12345678901234567890", "1-2-3-4-5-6", "１２３４５６７", "1" * 6 + " " * 59,
                    "1" * 6 + "-" * 59],
    "location": ["Lisbon", "l" * 200, "l" * 201],
    "stage": ["lead", "demo", "trial", "active", "churned", " trial ", "Trial"],
    "plan": ["business-location", "enterprise", "nope", " enterprise ", "Enterprise"],
    "seats": ["0", "12", " 7 ", "-1", "1.5", "007", "٣", "+3"],
    "support_type": ["vendor", "partner", "Partner", " partner "],
    "support_access": ["true", "false", "yes", "no", "1", "0", "on", "off", "maybe", " YES ",
                       "N", "t"],
    "external_id": ["E-1", " E-2 ", "e" * 200, "e" * 201],
}
TEXT_COLUMNS = {column: text_cells(*values) for column, values in AWKWARD.items()}
# Cells that are valid on their own (support_access on still needs partner support).
GOOD_CELLS = {
    "name": ["Acme", " Café ☕ ", "n" * 200],
    "owner_name": ["Ana", " Zoë "],
    "owner_email": ["ana@acme.example", " Ana@Acme.Example "],
    "owner_phone": ["", "+1 555 0100", "123456", "12345678901234567890"],
    "location": ["", "Lisbon", "l" * 200],
    "stage": ["", "lead", "demo", "trial", " trial "],
    "plan": ["", "business-location", " enterprise "],
    "seats": ["", "0", "12", " 7 ", "007"],
    "support_type": ["", "partner", "partner", "vendor"],
    "support_access": ["", "false", "no", "0", "off", "n", "yes", " TRUE "],
    "external_id": ["", "E-1", " E-2 "],
}
GOOD_ROW = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in GOOD_CELLS.items()})
# At most one cell of the block spoiled: then that cell alone decides for the whole block.
SPOILER = st.one_of(st.none(),
                    st.tuples(st.integers(0, 29), st.sampled_from(sorted(TEXT_COLUMNS)))
                    .flatmap(lambda at: st.tuples(st.just(at[0]), st.just(at[1]),
                                                  TEXT_COLUMNS[at[1]])))
# The file's header: every column, or some optional ones missing, or any missing.
OPTIONAL = sorted(set(VALID) - {"name", "owner_name", "owner_email"})
HEADERS = st.one_of(st.just(frozenset()), st.sets(st.sampled_from(OPTIONAL), min_size=1),
                    st.sets(st.sampled_from(sorted(VALID)), min_size=1)).map(
    lambda absent: tuple(c for c in VALID if c not in absent))


def agrees(header: tuple[str, ...], rows: list[dict], policy: clients.Policy) -> bool:
    """clean_columns on the block vs fast_clean on each row; True if the block is valid."""
    rows = [{c: row[c] for c in header} for row in rows]  # absent columns: not in the row
    columns = {c: tuple(row[c] for row in rows) for c in header}
    one_by_one = [clients.fast_clean(row, policy) for row in rows]
    block = clients.clean_columns(columns, len(rows), policy)
    if any(values is None for values in one_by_one):
        assert block is None, (rows, [v is None for v in one_by_one])
        return False
    assert block is not None, rows
    for key in clients.CLEAN_COLUMNS:
        assert list(block[key]) == [values[key] for values in one_by_one], key
    trial_ends = [policy.trial_ends_at if stage == "trial" else None for stage in block["stage"]]
    assert trial_ends == [values["trial_ends_at"] for values in one_by_one]
    return True


@settings(max_examples=300, deadline=None)
@given(header=HEADERS, rows=st.lists(GOOD_ROW, min_size=1, max_size=30), spoiler=SPOILER,
       partner=st.booleans())
def test_a_block_checked_column_by_column_agrees_with_fast_clean_row_by_row(header, rows,
                                                                             spoiler, partner):
    if spoiler is not None:
        at, column, value = spoiler
        rows[at % len(rows)][column] = value
    valid = agrees(header, rows, rules(partner))
    event("every row is plainly valid" if valid else "a row is not plainly valid")


def test_each_awkward_cell_alone_decides_for_the_whole_block():
    """Every listed value of every column, once, in a block of otherwise valid rows."""
    base = [dict(VALID), {**VALID, "support_type": "", "stage": "trial", "seats": ""},
            {**{key: cells[-1] for key, cells in GOOD_CELLS.items()}, "support_access": "no"}]
    tried = valid = 0
    for partner in (True, False):
        for column, values in AWKWARD.items():
            for value in [*values, *TEXT_EDGE]:
                rows = [dict(row) for row in base]
                rows[1][column] = value
                valid += agrees(tuple(VALID), rows, rules(partner))
                tried += 1
    assert tried > 200 and 40 < valid < tried - 40  # both outcomes well represented


def test_a_valid_block_gives_the_cleaned_columns():
    rows = [{**VALID, "stage": " demo ", "support_type": "partner", "support_access": "yes",
             "owner_email": " Ana@ACME.example "},
            {**VALID, "stage": "trial", "support_type": "", "support_access": "",
             "owner_phone": "", "location": "", "plan": "", "seats": "", "external_id": ""},
            VALID]
    columns = {c: [row[c] for row in rows] for c in VALID}
    block = clients.clean_columns(columns, 3, rules(True))
    assert block is not None
    assert {k: block[k] for k in clients.CLEAN_COLUMNS} == {
        "name": ["Acme"] * 3, "owner_name": ["Ana"] * 3,
        "owner_email": ["ana@acme.example"] * 3,
        "owner_phone": ["+1 555 0100", None, "+1 555 0100"],
        "location": ["Lisbon", None, "Lisbon"], "stage": ["demo", "trial", "lead"],
        "plan": ["business-location", None, "business-location"],
        "seats_allocated": [3, 0, 3], "support_type": ["partner", "partner", "vendor"],
        "support_access": [True, False, False], "external_id": ["E-1", None, "E-1"]}
    # the same rows for a reseller without partner support: the first row's access fails
    assert clients.clean_columns(columns, 3, rules(False)) is None
    # one bad cell anywhere refuses the whole block
    for key, bad in (("owner_email", "nope"), ("seats", "-1"), ("stage", "active"),
                     ("owner_phone", "12345"), ("plan", "nope")):
        spoiled = {c: list(v) for c, v in columns.items()}
        spoiled[key][1] = bad
        assert clients.clean_columns(spoiled, 3, rules(True)) is None, key
    # absent columns are empty cells: without owner_email no row is valid
    del columns["owner_email"]
    assert clients.clean_columns(columns, 3, rules(True)) is None


def test_seats_ending_in_a_separator_control_character_do_not_crash_clean_new():
    """str.strip() drops the ASCII separators \\x1c-\\x1f, int() refuses them: the fast path
    takes "1\\x1f" as 1 seat, and the row-by-row path must agree (not raise ValueError,
    which crashes `client import` with exit 1 when another cell sends the row there)."""
    for separator in "\x1c\x1d\x1e\x1f":
        row = {**VALID, "seats": "1" + separator}
        fast = clients.fast_clean(row, rules(False))
        assert fast is not None and fast["seats_allocated"] == 1
        assert clients.clean_new(row, rules(False)) == fast
        errors = clients.new_field_errors({**row, "owner_email": "nope"}, rules(False))
        assert [e.column for e in errors] == ["owner_email"]
