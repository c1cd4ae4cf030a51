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
