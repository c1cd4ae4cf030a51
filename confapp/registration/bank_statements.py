"""Bank statements: reading a bank's CSV export, and matching the money that came in to the
orders paid by transfer.

Reading. A statement's layout (which column holds what, the separator, the decimal mark, how
dates are written) is a preset for a bank's usual export, or the conference's own mapping
(`PaymentSettings.statement_columns`), which overrides the preset. A file is read as UTF-8
(with or without a byte-order mark), else as Windows-1252; a line that cannot be read is an
error naming its line and column, and a file with any error imports nothing. Only credits
(money in) are candidates; debits are skipped and counted.

The presets (exports as the banks' internet banking gives them; where a bank offers several,
the one assumed is written here):

- `au_commbank`: CommBank NetBank "CSV": no header; date (31/12/2027), amount with its sign
  ("+95.00", "-12.00"), description, balance ("+1095.00").
- `au_westpac`: Westpac Live "CSV": a header `Bank Account,Date,Narrative,Debit Amount,Credit
  Amount,Balance,Categories,Serial`; money in and out in separate unsigned columns; 31/12/2027.
- `au_nab`: NAB Internet Banking "CSV" (the export with a header, as of 2023): `Date,Amount,
  Account Number,,Transaction Type,Transaction Details,Balance,Category,Merchant Name`; signed
  amount; dates as "31 Dec 27" (also read: "31-Dec-27", 31/12/2027).
- `au_anz`: ANZ Internet Banking "CSV": no header; date (31/12/2027), signed amount,
  description, and sometimes one or two more description columns; no balance.
- `sepa_camt_csv`: the German savings banks' "CSV-CAMT" export (Sparkasse; others are alike):
  a header, `;` between fields, decimal comma ("1.234,56"), `Buchungstag` (31.12.27),
  `Verwendungszweck` (the remittance information, where the reference is), `Beguenstigter/
  Zahlungspflichtiger` (the payer), `Betrag`, `Waehrung`. The English export's headers
  (`Booking date`, `Purpose`/`Remittance information`, `Payer/Payee`, `Amount`, `Currency`)
  are read too.

A conference's own mapping: {"date": "Date", "amount": "Amount", "description": "Narrative",
"date_format": "%d/%m/%Y", "delimiter": ",", "decimal": "."}, naming header columns; instead
of "amount", "credit" and "debit" for a bank that puts money in and out apart; optionally
"balance" and "currency". Columns given as numbers ("1", "2", ...) mean a file without a
header, counted from 1. The separator, decimal mark and date format not given are the chosen
preset's, else "," "." and "%d/%m/%Y".

One line is kept once: its hash (date, amount, currency, description, and the running balance
or, for a bank that gives none, how many identical lines came before it in the file) is unique
per conference, so statements that overlap add each line once, and the same file uploaded
again (known by its SHA-256) changes nothing.

Matching. A reference is looked for in the description as banks mangle it ("REF KX7Q-2MPD",
"kx7q2mpd", "INV:KX7Q2MPD"): each run of eight of its letters and digits, upper-cased, that
could be a reference. The order must be this conference's. Each line is settled in a
transaction of its own with the order's row locked, as a card payment is
(confapp.registration.payments):

- the order's total, for a reserved transfer order: paid (a confirmed bank_transfer payment,
  pay_order, a receipt, the mails of a paid order: tickets, and a group's payer's); for one
  whose hold had ended, its places are taken again first, and with none left the line is
  `partial` (`no_place`) for a person;
- less than the total: `partial` (`underpaid`), the order stays reserved; a later line for
  the same order that makes up the total pays it (and the earlier line with it);
- more than the total: the order is paid (payment and receipt for the total, what the order
  cost) and the line is `partial` (`overpaid`), so a person gives the difference back or keeps
  it as a gift;
- an order already paid: `partial` (`already_paid`): never paid twice, a person refunds it;
- no reference: `unmatched`. Several orders' references, an order paid another way, another
  currency, a cancelled order: `partial`, with the reason as its note.

A person then assigns a line to an order by its reference (it is settled as above, whatever
way the order was to be paid) or ignores it (it pays nothing here, or has been dealt with).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from confapp.accounts.audit import record
from confapp.db import Database, column_length
from confapp.models import (
    STATEMENT_LINES_TO_DECIDE,
    BankStatement,
    BankStatementLine,
    Conference,
    Order,
    OrderItem,
    OrderLink,
    OrderStatus,
    OutboxMail,
    PaymentMethod,
    PaymentSettings,
    Registration,
    RegistrationStatus,
    StatementLineState,
)
from confapp.registration.mail import ORDER_MAIL_KINDS
from confapp.registration.orders import (
    REFERENCE_ALPHABET,
    REFERENCE_LENGTH,
    display_reference,
    normalise_reference,
    order_registrations,
    payment_settings,
)
from confapp.registration.payments import receive_payment
from confapp.registration.service import retake_places
from confapp.times import utcnow
from confapp.translation import N_, _

MAX_STATEMENT_BYTES = 2 * 1024 * 1024
MAX_PROBLEMS = 10
HEADER_SEARCH_ROWS = 30  # some banks put a title or the account's details above the header
DEFAULT_DATE_FORMAT = "%d/%m/%Y"

# Why a person is asked to look at a line (BankStatementLine.note).
NOTE_UNDERPAID = "underpaid"
NOTE_OVERPAID = "overpaid"
NOTE_ALREADY_PAID = "already_paid"
NOTE_NO_PLACE = "no_place"
NOTE_ORDER_CANCELLED = "order_cancelled"
NOTE_NOTHING_TO_PAY = "nothing_to_pay"  # every ticket of the order was cancelled meanwhile
NOTE_OTHER_METHOD = "other_method"
NOTE_CURRENCY = "currency"
NOTE_SEVERAL_ORDERS = "several_orders"

# A column: its position in a file without a header (from 0), or the names its header may
# have (any one, compared without regard to case).
ColumnRef = int | tuple[str, ...]


@dataclass(frozen=True)
class StatementLayout:
    date: ColumnRef
    description: tuple[ColumnRef, ...]  # the first must be there; the others are added if so
    amount: ColumnRef | None = None  # signed; or else credit and debit, unsigned
    credit: ColumnRef | None = None
    debit: ColumnRef | None = None
    balance: ColumnRef | None = None
    currency: ColumnRef | None = None
    date_formats: tuple[str, ...] = (DEFAULT_DATE_FORMAT,)
    delimiter: str = ","
    decimal: str = "."

    @property
    def has_header(self) -> bool:
        return not isinstance(self.date, int)


PRESETS: dict[str, StatementLayout] = {
    "au_commbank": StatementLayout(date=0, amount=1, description=(2,), balance=3),
    "au_westpac": StatementLayout(
        date=("Date",),
        credit=("Credit Amount",),
        debit=("Debit Amount",),
        description=(("Narrative",),),
        balance=("Balance",),
    ),
    "au_nab": StatementLayout(
        date=("Date",),
        amount=("Amount",),
        description=(("Transaction Details", "Details", "Narrative", "Description"),),
        balance=("Balance",),
        date_formats=("%d %b %y", "%d-%b-%y", "%d %b %Y", "%d/%m/%Y", "%d/%m/%y"),
    ),
    "au_anz": StatementLayout(date=0, amount=1, description=(2, 3, 4)),
    "sepa_camt_csv": StatementLayout(
        date=("Buchungstag", "Booking date", "Booking day"),
        amount=("Betrag", "Amount"),
        description=(
            ("Verwendungszweck", "Purpose", "Remittance information"),
            (
                "Beguenstigter/Zahlungspflichtiger",
                "Begünstigter/Zahlungspflichtiger",
                "Payer/Payee",
            ),
        ),
        currency=("Waehrung", "Währung", "Currency"),
        date_formats=("%d.%m.%y", "%d.%m.%Y", "%Y-%m-%d"),
        delimiter=";",
        decimal=",",
    ),
}

# The presets' names, for a choice on a page (translated where shown). "" (no preset, or a
# mapping of one's own) is always allowed.
PRESET_NAMES: dict[str, str] = {
    "au_commbank": N_("Commonwealth Bank (NetBank CSV export)"),
    "au_westpac": N_("Westpac (CSV export)"),
    "au_nab": N_("NAB (CSV export)"),
    "au_anz": N_("ANZ (CSV export)"),
    "sepa_camt_csv": N_("European bank (SEPA CSV: semicolons, decimal comma)"),
}

COLUMN_KEYS = ("date", "amount", "credit", "debit", "description", "balance", "currency")
DIALECT_KEYS = ("date_format", "delimiter", "decimal")
_DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t", "|": "|"}


def _column_ref(text: str) -> ColumnRef:
    text = text.strip()
    return int(text) - 1 if text.isascii() and text.isdigit() else (text,)


def layout_from_columns(
    columns: Mapping[str, str], base: StatementLayout | None = None
) -> tuple[StatementLayout | None, dict[str, str]]:
    """The layout a conference's own mapping describes, or the reasons (by key) it cannot
    be used. What it does not say of the separator, decimal mark and date format is `base`'s."""
    problems: dict[str, str] = {}
    named = {key: str(columns.get(key, "") or "").strip() for key in COLUMN_KEYS}
    if not named["date"]:
        problems["date"] = _("Name the column that holds the date.")
    if not named["description"]:
        problems["description"] = _("Name the column that holds the description.")
    if not (named["amount"] or named["credit"]):
        problems["amount"] = _(
            "Name the column that holds the amount (or the columns of money in and out)."
        )
    given = [value for value in named.values() if value]
    positional = [value.isascii() and value.isdigit() for value in given]
    if any(positional) and not all(positional):
        problems["date"] = _(
            "Give every column by its header's name, or every one by its number: not both."
        )
    if any(value.isdigit() and int(value) < 1 for value in given if value.isascii()):
        problems["date"] = _("Columns are counted from 1.")
    delimiter = str(columns.get("delimiter", "") or "")
    if delimiter and delimiter not in _DELIMITERS:
        problems["delimiter"] = _("The separator must be a comma, a semicolon, a tab or a bar.")
    decimal = str(columns.get("decimal", "") or "")
    if decimal and decimal not in (".", ","):
        problems["decimal"] = _("The decimal mark must be a point or a comma.")
    date_format = str(columns.get("date_format", "") or "")
    if date_format and not _date_format_works(date_format):
        problems["date_format"] = _(
            "The date format must give the day, month and year, like %(example)s."
        ) % {"example": "%d/%m/%Y"}
    if problems:
        return None, problems
    base = base or StatementLayout(date=0, description=(1,))
    layout = StatementLayout(
        date=_column_ref(named["date"]),
        description=(_column_ref(named["description"]),),
        amount=_column_ref(named["amount"]) if named["amount"] else None,
        credit=_column_ref(named["credit"]) if named["credit"] else None,
        debit=_column_ref(named["debit"]) if named["debit"] else None,
        balance=_column_ref(named["balance"]) if named["balance"] else None,
        currency=_column_ref(named["currency"]) if named["currency"] else None,
        date_formats=(date_format,) if date_format else base.date_formats,
        delimiter=_DELIMITERS[delimiter] if delimiter else base.delimiter,
        decimal=decimal or base.decimal,
    )
    return layout, {}


def _date_format_works(date_format: str) -> bool:
    example = date(2027, 12, 31)
    try:
        return datetime.strptime(example.strftime(date_format), date_format).date() == example
    except ValueError:
        return False


def statement_layout(
    settings: PaymentSettings, preset: str | None = None
) -> StatementLayout | None:
    """The layout to read a conference's statements with: `preset` if one is given, else its
    own mapping (over its preset's dialect) if it has one, else its preset; None if neither."""
    if preset is not None:
        return PRESETS.get(preset)
    base = PRESETS.get(settings.statement_preset)
    if any(str(settings.statement_columns.get(key, "")).strip() for key in COLUMN_KEYS):
        layout, _problems = layout_from_columns(settings.statement_columns, base)
        return layout
    return base


# --- reading a file ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedLine:
    """A credit read from a statement."""

    line_number: int  # in the file, from 1
    booked_on: date
    amount_cents: int
    currency: str | None  # None where the file does not say
    description: str
    balance: str  # as written; "" where the file gives none
    ordinal: int  # how many lines just like it came before it in the file


@dataclass
class ParsedStatement:
    credits: list[ParsedLine] = field(default_factory=list)
    debits_skipped: int = 0  # debits and lines of no amount
    problems: list[str] = field(default_factory=list)  # in words, each naming line and column


class _CellProblem(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _decode(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _header_name(cell: str) -> str:
    return " ".join(cell.replace("\ufeff", "").split()).casefold()


def _column_label(ref: ColumnRef) -> str:
    if isinstance(ref, int):
        return _("column %(number)d") % {"number": ref + 1}
    return ref[0]


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_AMOUNT_PATTERNS = {
    ".": re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d{1,2})?"),
    ",": re.compile(r"(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d{1,2})?"),
}
_CURRENCY_MARKS = re.compile(r"^[A-Z]{3}|[A-Z]{3}$|[$€£]")


def parse_amount(text: str, decimal: str = ".") -> int | None:
    """An amount as a bank writes it ("+95.00", "-12.00", "1.234,56", "(12.00)", "12,00-",
    "$95", "EUR 95,00") in cents, or None if it is not one."""
    value = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "").upper()
    negative = False
    if value.startswith("(") and value.endswith(")"):
        negative, value = True, value[1:-1]
    value = _CURRENCY_MARKS.sub("", value)
    if value[:1] in ("+", "-"):
        negative, value = negative or value[0] == "-", value[1:]
    elif value[-1:] in ("+", "-"):
        negative, value = negative or value[-1] == "-", value[:-1]
    value = _CURRENCY_MARKS.sub("", value)
    if not _AMOUNT_PATTERNS[decimal].fullmatch(value):
        return None
    thousands = "," if decimal == "." else "."
    number = Decimal(value.replace(thousands, "").replace(decimal, "."))
    cents = int(number * 100)
    return -cents if negative else cents


def _amount_example(decimal: str) -> str:
    return "1,234.56" if decimal == "." else "1.234,56"


class _Row:
    """One row of the file, with its columns found by name or position."""

    def __init__(self, cells: Sequence[str], positions: Mapping[str, int]) -> None:
        self.cells = cells
        self.positions = positions

    def get(self, key: str, label: str, *, required: bool = True) -> str:
        position = self.positions.get(key)
        if position is None or position >= len(self.cells):
            if required:
                raise _CellProblem(label, _("the line has no such column."))
            return ""
        return self.cells[position].strip()


def _positions_by_name(header: Sequence[str], layout: StatementLayout) -> dict[str, int]:
    names: dict[str, int] = {}
    for index, cell in enumerate(header):
        names.setdefault(_header_name(cell), index)

    def find(ref: ColumnRef | None) -> int | None:
        if ref is None or isinstance(ref, int):
            return None
        return next((names[n] for n in map(_header_name, ref) if n in names), None)

    positions: dict[str, int] = {}
    for key in ("date", "amount", "credit", "debit", "balance", "currency"):
        found = find(getattr(layout, key))
        if found is not None:
            positions[key] = found
    for index, ref in enumerate(layout.description):
        found = find(ref)
        if found is not None:
            positions[f"description{index}"] = found
    return positions


def _positions_by_number(layout: StatementLayout) -> dict[str, int]:
    positions = {
        key: ref
        for key in ("date", "amount", "credit", "debit", "balance", "currency")
        if isinstance(ref := getattr(layout, key), int)
    }
    for index, ref in enumerate(layout.description):
        if isinstance(ref, int):
            positions[f"description{index}"] = ref
    return positions


def _has_every_needed(positions: Mapping[str, int], layout: StatementLayout) -> bool:
    money = "amount" in positions if layout.amount is not None else "credit" in positions
    return "date" in positions and "description0" in positions and money


def _needed_names(layout: StatementLayout) -> list[str]:
    refs = [layout.date, layout.amount if layout.amount is not None else layout.credit]
    return [_column_label(ref) for ref in [*refs, layout.description[0]] if ref is not None]


def _read_date(row: _Row, layout: StatementLayout) -> date:
    label = _column_label(layout.date)
    text = row.get("date", label)
    for date_format in layout.date_formats:
        try:
            return datetime.strptime(text, date_format).date()
        except ValueError:
            continue
    example = date(2027, 12, 31).strftime(layout.date_formats[0])
    raise _CellProblem(
        label,
        _("“%(value)s” is not a date like %(example)s.") % {"value": text[:40], "example": example},
    )


def _read_money(row: _Row, key: str, ref: ColumnRef, layout: StatementLayout) -> int:
    label = _column_label(ref)
    text = row.get(key, label, required=key == "amount")
    if not text and key != "amount":
        return 0
    cents = parse_amount(text, layout.decimal)
    if cents is None:
        raise _CellProblem(
            label,
            _("“%(value)s” is not an amount like %(example)s.")
            % {"value": text[:40], "example": _amount_example(layout.decimal)},
        )
    return cents


def _read_amount(row: _Row, layout: StatementLayout) -> int:
    if layout.amount is not None:
        return _read_money(row, "amount", layout.amount, layout)
    assert layout.credit is not None
    credit = _read_money(row, "credit", layout.credit, layout)
    debit = _read_money(row, "debit", layout.debit, layout) if layout.debit is not None else 0
    return abs(credit) - abs(debit)


def _read_currency(row: _Row, layout: StatementLayout) -> str | None:
    if layout.currency is None:
        return None
    label = _column_label(layout.currency)
    text = row.get("currency", label, required=False).upper()
    if not text:
        return None
    if not re.fullmatch("[A-Z]{3}", text):
        raise _CellProblem(
            label, _("“%(value)s” is not a currency code like AUD or EUR.") % {"value": text[:40]}
        )
    return text


def _read_description(row: _Row, layout: StatementLayout) -> str:
    parts = [
        row.get(f"description{index}", _column_label(ref), required=index == 0)
        for index, ref in enumerate(layout.description)
    ]
    text = " ".join(_CONTROL.sub(" ", " ".join(p for p in parts if p)).split())
    return text[: column_length(BankStatementLine, "description")]


def _problem(line_number: int, column: str, reason: str) -> str:
    return _("Line %(line)d, %(column)s: %(reason)s") % {
        "line": line_number,
        "column": column,
        "reason": reason,
    }


def parse_statement(data: bytes, layout: StatementLayout) -> ParsedStatement:
    """The credits a statement holds, how many other lines it skipped, and what could not be
    read (each problem in words, naming its line and column; at most MAX_PROBLEMS)."""
    parsed = ParsedStatement()
    if b"\x00" in data:
        parsed.problems.append(
            _("This is not a CSV file (a spreadsheet, perhaps?): export the statement as CSV.")
        )
        return parsed
    text = _decode(data)
    if text is None:
        parsed.problems.append(_("The file could not be read as text (UTF-8 or Windows-1252)."))
        return parsed
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter)
    positions = None if layout.has_header else _positions_by_number(layout)
    seen: dict[tuple[date, int, str | None, str], int] = {}
    rows = 0
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            rows += 1
            if positions is None:
                found = _positions_by_name(cells, layout)
                if _has_every_needed(found, layout):
                    positions = found
                elif rows >= HEADER_SEARCH_ROWS:
                    break
                continue
            line = _parse_row(_Row(cells, positions), layout, reader.line_num, seen, parsed)
            if line is not None:
                parsed.credits.append(line)
            if len(parsed.problems) >= MAX_PROBLEMS:
                parsed.problems.append(_("There may be more: these were the first."))
                break
    except csv.Error:
        parsed.problems.append(
            _problem(reader.line_num, _("the line"), _("it is not well-formed CSV."))
        )
    if positions is None and not parsed.problems:
        parsed.problems.append(
            _(
                "No header row naming the columns %(columns)s was found: is this the right "
                "bank's format?"
            )
            % {"columns": ", ".join(f"“{name}”" for name in _needed_names(layout))}
        )
    elif rows == 0 and not parsed.problems:
        parsed.problems.append(_("The file is empty."))
    return parsed


def _parse_row(
    row: _Row,
    layout: StatementLayout,
    line_number: int,
    seen: dict[tuple[date, int, str | None, str], int],
    parsed: ParsedStatement,
) -> ParsedLine | None:
    try:
        booked_on = _read_date(row, layout)
        amount = _read_amount(row, layout)
        currency = _read_currency(row, layout)
        description = _read_description(row, layout)
        balance = row.get("balance", "", required=False)
    except _CellProblem as problem:
        parsed.problems.append(_problem(line_number, problem.column, problem.reason))
        return None
    if amount <= 0:
        parsed.debits_skipped += 1
        return None
    key = (booked_on, amount, currency, description)
    ordinal = seen.get(key, 0)
    seen[key] = ordinal + 1
    return ParsedLine(line_number, booked_on, amount, currency, description, balance, ordinal)


def line_hash(line: ParsedLine, currency: str) -> str:
    """What makes a line the same line in two statements: its date, amount, currency and
    description, and its running balance or, without one, its place among lines just like it."""
    place = f"balance {line.balance}" if line.balance else f"ordinal {line.ordinal}"
    text = "\x1f".join(
        (line.booked_on.isoformat(), str(line.amount_cents), currency, line.description, place)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def references_in(description: str) -> list[str]:
    """Every run of REFERENCE_LENGTH letters and digits in the description (spaces, dashes
    and case aside) that could be an order's reference, in the order they come."""
    text = normalise_reference(description)
    found: list[str] = []
    for start in range(len(text) - REFERENCE_LENGTH + 1):
        candidate = text[start : start + REFERENCE_LENGTH]
        if candidate not in found and all(c in REFERENCE_ALPHABET for c in candidate):
            found.append(candidate)
    return found


def safe_filename(filename: str) -> str:
    """The file's name without any path, and nothing that could not be shown."""
    name = re.split(r"[\\/]", filename)[-1]
    name = " ".join(_CONTROL.sub(" ", name).split())
    return name[: column_length(BankStatement, "filename")]


# --- settling a line --------------------------------------------------------------------------


class _Refused(Exception):
    """A person's decision that cannot be made as asked: nothing is changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class _Settled:
    paid: bool = False  # the line (with any earlier ones) paid the order
    mail_ids: list[int] = field(default_factory=list)


def _locked_order(session: Session, order_id: int) -> Order:
    order = session.exec(select(Order).where(Order.id == order_id).with_for_update()).first()
    assert order is not None
    return order


def _earlier_underpaid(
    session: Session, line: BankStatementLine, order: Order
) -> list[BankStatementLine]:
    return list(
        session.exec(
            select(BankStatementLine).where(
                BankStatementLine.conference_id == order.conference_id,
                BankStatementLine.order_id == order.id,
                BankStatementLine.state == StatementLineState.partial.value,
                BankStatementLine.note == NOTE_UNDERPAID,
                col(BankStatementLine.payment_id).is_(None),
                BankStatementLine.currency == order.currency,
                col(BankStatementLine.id) != line.id,
            )
        ).all()
    )


def _to_decide(line: BankStatementLine, note: str) -> None:
    line.state = StatementLineState.partial.value
    line.note = note


def _settle(
    session: Session,
    line: BankStatementLine,
    order_id: int,
    now: datetime,
    *,
    by_hand: bool,
) -> _Settled:
    """Let the line pay the order, with the order's row locked, inside the caller's
    transaction; or mark it `partial`, with why, for a person. By hand, a line that cannot
    pay the order is refused (_Refused) instead, and nothing changes."""
    order = _locked_order(session, order_id)
    line.order_id = order.id
    line.reference_found = order.reference
    refusal = None
    if line.currency != order.currency:
        refusal = NOTE_CURRENCY
    elif order.status == OrderStatus.paid.value:
        refusal = NOTE_ALREADY_PAID
    elif order.status == OrderStatus.cancelled.value:
        refusal = NOTE_ORDER_CANCELLED
    elif not by_hand and order.method != PaymentMethod.bank_transfer.value:
        refusal = NOTE_OTHER_METHOD
    if refusal is not None:
        if by_hand:
            raise _Refused(refusal_message(refusal, order))
        _to_decide(line, refusal)
        return _Settled()
    earlier = _earlier_underpaid(session, line, order)
    received = line.amount_cents + sum(e.amount_cents for e in earlier)
    if received < order.total_cents:
        _to_decide(line, NOTE_UNDERPAID)
        return _Settled()
    if order.status == OrderStatus.expired.value and not retake_places(session, order, now):
        if by_hand:
            raise _Refused(refusal_message(NOTE_NO_PLACE, order))
        _to_decide(line, NOTE_NO_PLACE)
        return _Settled()
    held = [
        r
        for r in order_registrations(session, order.id or 0)
        if r.status == RegistrationStatus.reserved.value
    ]
    if not held:
        if by_hand:
            raise _Refused(refusal_message(NOTE_NOTHING_TO_PAY, order))
        _to_decide(line, NOTE_NOTHING_TO_PAY)
        return _Settled()
    payment, mail_ids = receive_payment(session, order, PaymentMethod.bank_transfer, now)
    for other in [*earlier, line]:
        other.payment_id = payment.id
        other.state = StatementLineState.matched.value
        other.note = ""
        session.add(other)
    if by_hand:
        line.state = StatementLineState.assigned.value
    if received > order.total_cents:
        _to_decide(line, NOTE_OVERPAID)
    return _Settled(True, mail_ids)


def refusal_message(note: str, order: Order) -> str:
    """Why a line cannot pay an order, in words."""
    reference = display_reference(order.reference)
    messages = {
        NOTE_CURRENCY: _("Order %(reference)s is paid in %(currency)s, not in this currency."),
        NOTE_ALREADY_PAID: _("Order %(reference)s is paid already."),
        NOTE_ORDER_CANCELLED: _("Order %(reference)s was cancelled."),
        NOTE_NO_PLACE: _(
            "The hold on order %(reference)s's places ended and they have gone: register the "
            "person at the desk, or give the money back."
        ),
        NOTE_NOTHING_TO_PAY: _("Every ticket of order %(reference)s was cancelled."),
    }
    message = messages.get(note, _("Order %(reference)s cannot be paid by this line."))
    return message % {"reference": reference, "currency": order.currency}


def _order_for_line(session: Session, line: BankStatementLine) -> int | None:
    """The order whose reference the line's description holds: its id, or None (and the line
    marked unmatched or, for several orders, partial)."""
    candidates = references_in(line.description)
    if not candidates:
        return None
    orders = session.exec(
        select(Order.id, Order.reference).where(
            Order.conference_id == line.conference_id, col(Order.reference).in_(candidates)
        )
    ).all()
    if len(orders) > 1:
        _to_decide(line, NOTE_SEVERAL_ORDERS)
        return None
    return orders[0][0] if orders else None


# --- importing a statement --------------------------------------------------------------------


@dataclass
class ImportReport:
    """What uploading a statement did."""

    statement_id: int | None = None
    already_uploaded_at: datetime | None = None  # the same file was uploaded then
    problems: list[str] = field(default_factory=list)  # the file was refused: nothing changed
    credits: int = 0
    debits_skipped: int = 0
    known: int = 0  # credits already imported from an earlier statement
    orders_paid: int = 0  # overpaid lines too, which are also counted as partial
    matched: int = 0
    partial: int = 0
    unmatched: int = 0
    mail_ids: list[int] = field(default_factory=list)


def import_statement(
    db: Database,
    conference_id: int,
    filename: str,
    data: bytes,
    by: str,
    *,
    preset: str | None = None,
    user_id: int | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Read a statement (in the conference's layout, or `preset`'s), keep its credits not
    seen before and settle each in a transaction of its own (see the module's docstring).
    The same file again changes nothing: the report says when it was first uploaded."""
    now = now or utcnow()
    report = ImportReport()
    digest = hashlib.sha256(data).hexdigest()
    with db.read() as session:
        conference = session.get(Conference, conference_id)
        assert conference is not None
        layout = statement_layout(payment_settings(session, conference_id), preset)
        earlier = _statement_by_digest(session, conference_id, digest)
    if earlier is not None:
        report.statement_id, report.already_uploaded_at = earlier.id, earlier.uploaded_at
    if layout is None:
        report.problems.append(
            _("Choose the bank's statement format first (in the payment settings, or here).")
        )
        return report
    parsed = parse_statement(data, layout)
    if parsed.problems:
        if earlier is None:
            report.problems = parsed.problems
        return report
    report.credits, report.debits_skipped = len(parsed.credits), parsed.debits_skipped
    statement_id = report.statement_id
    if statement_id is None:
        statement_id = _new_statement(
            db, conference_id, filename, digest, by, now, len(parsed.credits)
        )
        if statement_id is None:  # the same file, uploaded at the same moment by someone else
            with db.read() as session:
                earlier = _statement_by_digest(session, conference_id, digest)
            assert earlier is not None
            report.statement_id, report.already_uploaded_at = earlier.id, earlier.uploaded_at
            statement_id = earlier.id or 0
        else:
            report.statement_id = statement_id
    # Lines are taken again for a file uploaded before: any a failure stopped then are taken
    # now, and those already kept are skipped, so nothing changes twice.
    for parsed_line in parsed.credits:
        currency = parsed_line.currency or conference.currency
        outcome = _import_line(db, conference_id, statement_id, parsed_line, currency, now)
        if outcome is None:
            report.known += 1
            continue
        state, settled = outcome
        report.mail_ids.extend(settled.mail_ids)
        report.orders_paid += settled.paid
        if state == StatementLineState.matched.value:
            report.matched += 1
        elif state == StatementLineState.partial.value:
            report.partial += 1
        else:
            report.unmatched += 1
    with db.transaction() as session:
        statement = session.get(BankStatement, statement_id)
        assert statement is not None
        statement.lines_matched += report.orders_paid
        session.add(statement)
        if report.already_uploaded_at is None:
            record(
                session,
                "bank_statement_uploaded",
                user_id=user_id,
                actor=by,
                conference_id=conference_id,
                detail=(
                    f"statement {statement_id}: {report.credits} credits, {report.orders_paid} "
                    f"orders paid, {report.partial} partial, {report.unmatched} unmatched"
                ),
            )
    return report


def _statement_by_digest(session: Session, conference_id: int, digest: str) -> BankStatement | None:
    return session.exec(
        select(BankStatement).where(
            BankStatement.conference_id == conference_id, BankStatement.file_sha256 == digest
        )
    ).first()


def _new_statement(
    db: Database,
    conference_id: int,
    filename: str,
    digest: str,
    by: str,
    now: datetime,
    credits: int,
) -> int | None:
    try:
        with db.transaction() as session:
            statement = BankStatement(
                conference_id=conference_id,
                uploaded_at=now,
                uploaded_by=by[: column_length(BankStatement, "uploaded_by")],
                file_sha256=digest,
                filename=safe_filename(filename),
                lines_total=credits,
            )
            session.add(statement)
            session.flush()
            return statement.id
    except IntegrityError:
        return None


def _import_line(
    db: Database,
    conference_id: int,
    statement_id: int,
    parsed: ParsedLine,
    currency: str,
    now: datetime,
) -> tuple[str, _Settled] | None:
    """Keep one credit and settle it; None if it was kept before (from any statement)."""
    digest = line_hash(parsed, currency)
    with db.transaction() as session:
        known = session.exec(
            select(BankStatementLine.id).where(
                BankStatementLine.conference_id == conference_id,
                BankStatementLine.line_hash == digest,
            )
        ).first()
        if known is not None:
            return None
        line = BankStatementLine(
            statement_id=statement_id,
            conference_id=conference_id,
            line_hash=digest,
            booked_on=parsed.booked_on,
            amount_cents=parsed.amount_cents,
            currency=currency,
            description=parsed.description,
            state=StatementLineState.unmatched.value,
        )
        try:
            with session.begin_nested():
                session.add(line)
                session.flush()
        except IntegrityError:
            return None  # an overlapping statement kept it just now
        settled = _Settled()
        order_id = _order_for_line(session, line)
        if order_id is not None:
            settled = _settle(session, line, order_id, now, by_hand=False)
        session.add(line)
        return line.state, settled


# --- a person's decisions ---------------------------------------------------------------------


@dataclass(frozen=True)
class LineDecision:
    done: bool
    problem: str = ""  # why not, in words
    state: str = ""  # the line's state after it
    mail_ids: tuple[int, ...] = ()


def _line_to_decide(session: Session, conference_id: int, line_id: int) -> BankStatementLine:
    line = session.exec(
        select(BankStatementLine)
        .where(BankStatementLine.id == line_id, BankStatementLine.conference_id == conference_id)
        .with_for_update()
    ).first()
    if line is None:
        raise _Refused(_("There is no such statement line."))
    if line.state not in STATEMENT_LINES_TO_DECIDE:
        raise _Refused(_("This line has been dealt with already."))
    return line


def assign_line(
    db: Database,
    line_id: int,
    order_reference: str,
    by: str,
    *,
    conference_id: int,
    user_id: int | None = None,
    now: datetime | None = None,
) -> LineDecision:
    """A person says which order an unmatched or partial line pays (by the order's reference,
    as typed): it is settled as on upload, except that a line that cannot pay the order is
    refused with the reason, and the order may be one meant to be paid another way."""
    now = now or utcnow()
    reference = normalise_reference(order_reference)
    if not reference:
        return LineDecision(False, _("Type the order's reference, like KX7Q-2MPD."))
    try:
        with db.transaction() as session:
            line = _line_to_decide(session, conference_id, line_id)
            if line.payment_id is not None:
                raise _Refused(_("This line has paid an order already: mark it as dealt with."))
            order_id = session.exec(
                select(Order.id).where(
                    Order.conference_id == conference_id, Order.reference == reference
                )
            ).first()
            if order_id is None:
                raise _Refused(
                    _("No order of this conference has the reference %(reference)s.")
                    % {"reference": display_reference(reference)}
                )
            line.note = ""
            settled = _settle(session, line, order_id, now, by_hand=True)
            line.decided_by = by[: column_length(BankStatementLine, "decided_by")]
            line.decided_at = now
            session.add(line)
            record(
                session,
                "bank_statement_line_assigned",
                user_id=user_id,
                actor=by,
                conference_id=conference_id,
                detail=f"line {line_id} to order {display_reference(reference)}: {line.state}",
            )
            return LineDecision(True, state=line.state, mail_ids=tuple(settled.mail_ids))
    except _Refused as refused:
        return LineDecision(False, refused.message)


def ignore_line(
    db: Database,
    line_id: int,
    by: str,
    *,
    conference_id: int,
    user_id: int | None = None,
    now: datetime | None = None,
) -> LineDecision:
    """A person says an unmatched or partial line pays nothing here, or has been dealt with
    (an overpayment given back, a second payment refunded by hand)."""
    now = now or utcnow()
    try:
        with db.transaction() as session:
            line = _line_to_decide(session, conference_id, line_id)
            line.state = StatementLineState.ignored.value
            line.decided_by = by[: column_length(BankStatementLine, "decided_by")]
            line.decided_at = now
            session.add(line)
            record(
                session,
                "bank_statement_line_ignored",
                user_id=user_id,
                actor=by,
                conference_id=conference_id,
                detail=f"line {line_id}",
            )
            return LineDecision(True, state=line.state)
    except _Refused as refused:
        return LineDecision(False, refused.message)


# --- what the page shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class LineToDecide:
    line: BankStatementLine
    order: Order | None


def statements_of(session: Session, conference_id: int, limit: int = 50) -> list[BankStatement]:
    return list(
        session.exec(
            select(BankStatement)
            .where(BankStatement.conference_id == conference_id)
            .order_by(col(BankStatement.uploaded_at).desc(), col(BankStatement.id).desc())
            .limit(limit)
        ).all()
    )


def lines_to_decide(session: Session, conference_id: int, limit: int = 500) -> list[LineToDecide]:
    """Unmatched and partial lines, oldest first, with the order each was found for."""
    rows = session.exec(
        select(BankStatementLine, Order)
        .join(Order, col(Order.id) == col(BankStatementLine.order_id), isouter=True)
        .where(
            BankStatementLine.conference_id == conference_id,
            col(BankStatementLine.state).in_(STATEMENT_LINES_TO_DECIDE),
        )
        .order_by(col(BankStatementLine.booked_on), col(BankStatementLine.id))
        .limit(limit)
    ).all()
    return [LineToDecide(line, order) for line, order in rows]


def erase_order_traces(session: Session, registration: Registration) -> None:
    """Erasing an attendee: the bank's words about their order's payment (which may name the
    payer) are blanked, and once every attendee of the order is erased its links and payment
    mail go too. Amounts, dates and states stay for the books."""
    item = session.get(OrderItem, registration.id) if registration.id else None
    if item is None:
        return
    for line in session.exec(
        select(BankStatementLine).where(BankStatementLine.order_id == item.order_id)
    ).all():
        line.description = ""
        session.add(line)
    others = session.exec(
        select(Registration)
        .join(OrderItem, col(OrderItem.registration_id) == col(Registration.id))
        .where(OrderItem.order_id == item.order_id, col(Registration.erased_at).is_(None))
    ).all()
    if others:
        return
    session.execute(delete(OrderLink).where(col(OrderLink.order_id) == item.order_id))
    session.execute(
        delete(OutboxMail).where(
            col(OutboxMail.registration_id).is_(None),
            col(OutboxMail.reference_id) == item.order_id,
            col(OutboxMail.kind).in_(ORDER_MAIL_KINDS),
        )
    )
