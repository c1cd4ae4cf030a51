"""Which addresses from conference data may become links on our pages: http(s) and mailto only.

Conference files (and, later, the organisers' editor) put URLs into reading lists, recordings,
speaker links and the conference website. A page renders them as `<a href>`, so anything else
(`javascript:`, `data:`, a relative path) would run script or lead somewhere unexpected.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from confapp.translation import _

LINK_SCHEMES = ("http", "https", "mailto")


def link_problem(url: str) -> str | None:
    """Why `url` may not be shown as a link, in words for whoever typed it (in the language in
    force); None when it may."""
    if not url:
        return _("a link cannot be empty")
    try:
        parts = urlsplit(url)
        _port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        return _("this is not a well-formed address")
    if parts.scheme not in LINK_SCHEMES:
        return _("only http, https and mailto links are allowed (https://example.org/...)")
    # Browsers drop tabs and newlines inside an href ("java\tscript:" runs as "javascript:"),
    # and invisible characters can disguise an address; a real URL encodes them anyway.
    if any(unicodedata.category(char)[0] in "CZ" for char in url):
        return _("a link cannot contain spaces, line breaks or invisible characters")
    if parts.scheme == "mailto":
        if "@" not in parts.path:
            return _("a mailto link needs an e-mail address (mailto:someone@example.org)")
    elif not parts.hostname:
        return _("an http or https link needs a host (https://example.org/...)")
    return None


def is_safe_link(url: str) -> bool:
    """True for an absolute http or https URL with a host, or a mailto URL with an address."""
    return link_problem(url) is None
