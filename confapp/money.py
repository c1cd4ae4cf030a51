"""Money is kept in cents; this is the one place that shows it to people, in the reader's
language (Babel: "$25" in en-AU, "25 AUD" in es)."""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

from confapp.translation import babel_locale


def format_money(cents: int | None, currency: str = "AUD", language: str | None = None) -> str:
    if cents is None:
        return ""
    locale = babel_locale(language)
    amount = Decimal(cents) / 100
    if cents % 100:
        return format_currency(amount, currency, locale=locale)
    # Whole amounts without cents: "$25", not "$25.00".
    pattern = locale.currency_formats["standard"].pattern.replace(".00", "")
    return format_currency(amount, currency, format=pattern, locale=locale, currency_digits=False)
