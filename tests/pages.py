"""Reading what a person sees on a re-rendered form: the message beside a field, what it holds."""

from __future__ import annotations

import re
from html import unescape


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page)
    return unescape(match.group(1)) if match else None


def input_value(page: str, field: str) -> str | None:
    match = re.search(rf'<input id="{field}" name="{field}"[^>]*value="([^"]*)"', page)
    return unescape(match.group(1)) if match else None
