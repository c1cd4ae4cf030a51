"""Money is kept in cents; this is the one place that shows it to people."""

from __future__ import annotations

_DOLLAR_CURRENCIES = {"AUD", "USD", "NZD", "CAD"}


def format_money(cents: int | None, currency: str = "AUD") -> str:
    if cents is None:
        return ""
    symbol = "$" if currency in _DOLLAR_CURRENCIES else f"{currency} "
    text = f"{symbol}{cents / 100:,.2f}"
    return text[:-3] if text.endswith(".00") else text
