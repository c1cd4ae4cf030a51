"""A receipt in words and as a one-page A4 PDF, in the language in force.

`receipt_content` puts a receipt into words once (title, number, date, payer, lines, total,
GST); the printable page (receipt_routes) and the PDF both show those words. The PDF embeds
DejaVu Sans (static/fonts/receipt/, with its licence) so that any Latin, Greek or Cyrillic name
prints as given. It carries no metadata but its title and creation date, and that date is the
receipt's own: the same receipt always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from confapp.dates import day_name
from confapp.models import Conference, PaymentMethod, Receipt, ReceiptKind, TaxMode
from confapp.money import format_money
from confapp.resources import static_dir
from confapp.times import to_local
from confapp.translation import N_, _, current_language

FONT_FAMILY = "DejaVuSans"
PAID_BY = {
    PaymentMethod.stripe.value: N_("Paid by card"),
    PaymentMethod.bank_transfer.value: N_("Paid by bank transfer"),
    PaymentMethod.desk.value: N_("Paid at the registration desk"),
}


def font_dir() -> Path:
    return static_dir() / "fonts" / "receipt"


@dataclass(frozen=True)
class ReceiptLine:
    description: str
    amount: str  # as shown: "$95"


@dataclass(frozen=True)
class ReceiptContent:
    """What a receipt says, every word in the language in force."""

    issuer: list[str]  # as the organisers wrote it, line by line
    title: str  # "Payment receipt", "Cancellation of receipt No. 12"
    number: str  # "Receipt No. 17"
    issued: (
        str  # "Date issued: Thursday 8 July 2027" ("Fecha de emisión: jueves, 8 de julio de 2027")
    )
    payer: str  # "Received from: Zoë Ñúñez"
    reference: str  # "Order reference: KX7Q-2MPD"
    method: str  # "Paid by card"
    lines: list[ReceiptLine]
    total: str  # "$95"
    tax: str | None  # "Includes GST of $8.64"; None where no tax is shown


def receipt_content(
    receipt: Receipt,
    conference: Conference,
    order_reference: str,
    *,
    cancels_number: int | None = None,
) -> ReceiptContent:
    """A receipt in words. `order_reference` as shown ("KX7Q-2MPD"); `cancels_number`: for a
    cancellation, the number of the receipt it cancels."""
    money = receipt.currency
    if receipt.kind != ReceiptKind.cancellation.value:
        title = _("Payment receipt")
    elif cancels_number is not None:
        title = _("Cancellation of receipt No. %(number)s") % {"number": cancels_number}
    else:
        title = _("Cancellation of a receipt")
    issuer = [line.rstrip() for line in receipt.issuer.strip().splitlines()]
    method = PAID_BY.get(receipt.method)
    tax = None
    if receipt.tax_mode == TaxMode.gst_inclusive.value:
        tax = _("Includes GST of %(amount)s") % {"amount": format_money(receipt.tax_cents, money)}
    return ReceiptContent(
        issuer=issuer or [conference.name],
        title=title,
        number=_("Receipt No. %(number)s") % {"number": receipt.number},
        issued=_("Date issued: %(date)s")
        % {
            "date": day_name(
                to_local(receipt.issued_at, conference.timezone), year=True, in_sentence=True
            )
        },
        payer=_("Received from: %(payer)s") % {"payer": receipt.payer_name},
        reference=_("Order reference: %(reference)s") % {"reference": order_reference},
        method=_(method) if method else receipt.method,
        lines=[
            ReceiptLine(str(line.get("description", "")), format_money(line["amount_cents"], money))
            for line in receipt.lines
        ],
        total=format_money(receipt.amount_cents, money),
        tax=tax,
    )


@cache
def _font_files() -> tuple[Path, Path]:
    regular, bold = font_dir() / "DejaVuSans.ttf", font_dir() / "DejaVuSans-Bold.ttf"
    if not (regular.is_file() and bold.is_file()):
        raise FileNotFoundError(f"the receipt fonts are missing from {font_dir()}")
    return regular, bold


def _new_document(title: str, receipt: Receipt) -> FPDF:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    regular, bold = _font_files()
    pdf.add_font(FONT_FAMILY, "", str(regular))
    pdf.add_font(FONT_FAMILY, "B", str(bold))
    # Only the title and the receipt's own date: no producer, author or creator naming
    # software or people; the date makes the same receipt come out as the same bytes.
    pdf.set_producer("")
    pdf.set_creation_date(receipt.issued_at)
    pdf.set_title(title)
    pdf.set_lang(current_language())
    pdf.set_margins(left=20, top=20, right=20)
    pdf.set_auto_page_break(auto=True, margin=20)
    return pdf


def receipt_pdf(
    receipt: Receipt,
    conference: Conference,
    order_reference: str,
    *,
    cancels_number: int | None = None,
) -> bytes:
    """The receipt as a PDF, on one A4 page (a long list of lines, a group's, runs on)."""
    content = receipt_content(receipt, conference, order_reference, cancels_number=cancels_number)
    pdf = _new_document(content.number, receipt)
    pdf.add_page()

    def paragraph(text: str, size: int, *, bold: bool = False, align: str = "L") -> None:
        pdf.set_font(FONT_FAMILY, "B" if bold else "", size)
        # Line height a half of the size in points, in mm: about 1.4 times the type.
        pdf.multi_cell(pdf.epw, size / 2, text, align=align, new_x="LMARGIN", new_y="NEXT")

    paragraph("\n".join(content.issuer), 10)
    pdf.ln(10)
    paragraph(content.title, 20, bold=True)
    paragraph(content.number, 12, bold=True)
    pdf.ln(2)
    for fact in (content.issued, content.payer, content.reference, content.method):
        paragraph(fact, 11)
    pdf.ln(6)

    amount_width = 40
    with pdf.table(
        col_widths=(pdf.epw - amount_width, amount_width),
        text_align=("LEFT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        headings_style=FontFace(emphasis="BOLD"),
        line_height=6,
        padding=1.5,
    ) as table:
        heading = table.row()
        heading.cell(_("Description"))
        heading.cell(_("Amount"))
        for line in content.lines:
            row = table.row()
            row.cell(line.description)
            row.cell(line.amount)
        total = table.row(style=FontFace(emphasis="BOLD"))
        total.cell(_("Total"))
        total.cell(content.total)
    if content.tax:
        pdf.ln(3)
        paragraph(content.tax, 10, align="R")
    return bytes(pdf.output())
