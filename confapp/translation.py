"""Marking words for translation, ahead of the translations themselves.

Every user-facing string written from now on is marked: `_("...")` in Python, `{{ _("...") }}`
or `{% trans %}...{% endtrans %}` in templates (Jinja's i18n extension, installed in
confapp.templating). Until catalogues exist, the marks return the English text unchanged; a
message extractor (Babel) finds them all when translations come.
"""

from __future__ import annotations

import gettext as _gettext

_english = _gettext.NullTranslations()


def _(message: str) -> str:
    return _english.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _english.ngettext(singular, plural, n)


def translations() -> _gettext.NullTranslations:
    """The translations pages are rendered with (English only, for now)."""
    return _english
