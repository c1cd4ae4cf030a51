"""Reading what a person sees on a page: the elements with a class (their attributes and text),
and on a re-rendered form the message beside a field and what it holds."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser


def field_error(page: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page)
    return unescape(match.group(1)) if match else None


def message_beside(page: str, field: str) -> str:
    """The message beside a field, as the page has it (there must be one)."""
    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    assert found, f"no message beside {field}"
    return found.group(1)


def input_value(page: str, field: str) -> str | None:
    match = re.search(rf'<input id="{field}" name="{field}"[^>]*value="([^"]*)"', page)
    return unescape(match.group(1)) if match else None


class _Collector(HTMLParser):
    """Collects elements with a class, their attributes and text, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, object]] = []
        self._stack: list[dict[str, object]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in {"br", "img", "input", "meta", "link"}:
            self._stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._stack:
            element["text"] = str(element["text"]) + data


def elements(html: str, css_class: str) -> list[dict[str, object]]:
    """The elements with this class, in document order: tag, attrs and the text inside."""
    parser = _Collector()
    parser.feed(html)
    return [
        e
        for e in parser.elements
        if css_class in str(e["attrs"].get("class", "")).split()  # type: ignore[union-attr]
    ]


class FormReader(HTMLParser):
    """The fields of one form on a page as a browser would send them (no JavaScript)."""

    def __init__(self, action: str) -> None:
        super().__init__(convert_charrefs=True)
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.inside = a.get("action") == self.action and a.get("method") == "post"
        if not self.inside or "name" not in a and tag != "option":
            return
        if tag == "input" and a.get("type") not in ("submit", "checkbox"):
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "input" and "checked" in a:
            self.fields[a["name"]] = a.get("value", "on")
        elif tag == "select":
            self._select = a["name"]
            self.fields.setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[self._textarea] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_on(page: str, action: str) -> dict[str, str]:
    reader = FormReader(action)
    reader.feed(page)
    assert reader.fields, f"no form posting to {action}"
    return reader.fields
