"""Finding words in templates that a translator would never see: text and visible attributes
left outside `{{ _("...") }}`, `{% trans %}` and the expressions that print organisers'
content.

Each template's Jinja is blanked out first (a printed expression becomes a neutral mark, a
statement nothing, a `{% trans %}` block a mark), then what is left is read as HTML: any text
or visible attribute value that still holds a letter was written in English in the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

MARK = "\u2063"  # invisible separator: stands where a Jinja expression printed something

_COMMENT = re.compile(r"\{#.*?#\}", re.S)
_TRANS_BLOCK = re.compile(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", re.S)
_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)
_STATEMENT = re.compile(r"\{%.*?%\}", re.S)
_LETTER = re.compile(r"[^\W\d_]")

# Attributes a reader sees or hears (a screen reader reads aria-label and title).
_VISIBLE_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "aria-description", "label"}
# Words that are names, not English: the project's own name.
_NOT_ENGLISH = {"confapp"}


@dataclass(frozen=True)
class Unmarked:
    template: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: {self.text!r}"


def blank_jinja(source: str) -> str:
    """The template with its Jinja replaced, keeping its line numbers."""

    def keep_lines(replacement: str) -> object:
        return lambda m: replacement + "\n" * m.group(0).count("\n")

    source = _COMMENT.sub(keep_lines(""), source)
    source = _TRANS_BLOCK.sub(keep_lines(MARK), source)
    source = _EXPRESSION.sub(keep_lines(MARK), source)
    return _STATEMENT.sub(keep_lines(""), source)


# Markup a macro or a block writes into a tag (`aria-describedby="..."`, `class="..."`): read
# as text once its tag is blanked out, but no words.
_ATTRIBUTE_MARKUP = re.compile(r'[\w-]+="')


def _english_in(text: str) -> str | None:
    words = " ".join(text.replace(MARK, " ").split())
    if not _LETTER.search(words) or _ATTRIBUTE_MARKUP.search(words):
        return None
    worded = [w.strip(".,:;()·–—").lower() for w in words.split()]
    if all(w in _NOT_ENGLISH for w in worded if w):
        return None
    return words


class _Reader(HTMLParser):
    def __init__(self, template: str) -> None:
        super().__init__(convert_charrefs=True)
        self.template = template
        self.found: list[Unmarked] = []
        self._skipping = 0  # inside <script> or <style>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code"):  # code: a file name, a command, a key
            self._skipping += 1
        values = dict(attrs)
        for name, value in attrs:
            shown = name in _VISIBLE_ATTRIBUTES or (
                name == "value"
                and tag == "input"  # a <button>'s value is never shown
                and values.get("type") in ("submit", "button", "reset")
            )
            if shown and value and (words := _english_in(value)):
                self.found.append(Unmarked(self.template, self.getpos()[0], f"{name}={words}"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping and (words := _english_in(data)):
            self.found.append(Unmarked(self.template, self.getpos()[0], words))


def unmarked_in_template(path: Path, name: str) -> list[Unmarked]:
    source = blank_jinja(path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":  # plain-text mail: every word left is English
        return [
            Unmarked(name, number, words)
            for number, line in enumerate(source.splitlines(), start=1)
            if (words := _english_in(line))
        ]
    reader = _Reader(name)
    reader.feed(source)
    reader.close()
    return reader.found


def unmarked_in_templates(root: Path) -> list[Unmarked]:
    found: list[Unmarked] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".html", ".txt", ".xml"):
            found += unmarked_in_template(path, str(path.relative_to(root)))
    return found
