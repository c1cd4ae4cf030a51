"""Mail messages from templates: `compose_mail` renders templates/mail/<kind>.txt, and
templates/mail/<kind>.html where the mail has an HTML part, into an EmailMessage.

The text template sets the subject line too, as `{% set subject %}...{% endset %}`. The two
parts render in two environments made alike (the pages' loader, filters and tests, strict about
undefined names): the HTML part escapes everything it shows, the text part nothing. One
environment, escaping by file name, could not do both: the text mail of programme changes uses
the pages' own wording (programme/_change.html), which an HTML-escaping environment would turn
into `&#39;` in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from functools import cache
from typing import Any

import jinja2

from confapp.content import localized_values
from confapp.templating import templates
from confapp.translation import current_language

MAIL_TEMPLATES = "mail"


def _environment(*, autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=templates.env.loader,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates ship with the code, as for the pages
    )
    env.filters.update(templates.env.filters)
    env.tests.update(templates.env.tests)
    env.globals.update(templates.env.globals)
    return env


_text = _environment(autoescape=False)
_html = _environment(autoescape=True)


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows (a ticket's QR code): its template gets
    `images[name]`, the `cid:` address to put in an <img src>."""

    name: str
    data: bytes
    filename: str
    subtype: str = "png"


def text_template(kind: str) -> jinja2.Template:
    return _text.get_template(f"{MAIL_TEMPLATES}/{kind}.txt")


@cache
def html_template(kind: str) -> jinja2.Template | None:
    """The kind's HTML part, or None: that mail is plain text only."""
    try:
        return _html.get_template(f"{MAIL_TEMPLATES}/{kind}.html")
    except jinja2.TemplateNotFound:
        return None


def one_line(text: str) -> str:
    """Header values must not carry line breaks (a conference name could)."""
    return " ".join(text.split())


def render_text(kind: str, context: Mapping[str, Any]) -> tuple[str, str]:
    """The kind's subject line and text body."""
    module = text_template(kind).make_module(dict(context))
    subject = getattr(module, "subject", None)
    if subject is None:
        raise LookupError(f"{MAIL_TEMPLATES}/{kind}.txt sets no subject")
    return one_line(str(subject)), str(module)


def compose_mail(
    *,
    sender: str,
    to: str,
    kind: str,
    context: Mapping[str, Any],
    images: Sequence[InlineImage] = (),
    auto_submitted: bool = True,
) -> EmailMessage:
    """The message of one kind of mail to one person, from its templates and `context`, in the
    language in force (confapp.translation.in_language)."""
    context = localized_values(context)
    subject, text = render_text(kind, context)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    if auto_submitted:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    html = html_template(kind)
    if html is None:
        if images:
            raise LookupError(f"{MAIL_TEMPLATES}/{kind} shows images but has no HTML part")
        return _in_its_language(message)
    cids = {image.name: make_msgid(domain="confapp.invalid") for image in images}
    addresses = {name: f"cid:{cid[1:-1]}" for name, cid in cids.items()}
    message.add_alternative(html.render({**context, "images": addresses}), subtype="html")
    html_part = list(message.iter_parts())[1]
    for image in images:
        html_part.add_related(
            image.data,
            maintype="image",
            subtype=image.subtype,
            cid=cids[image.name],
            filename=image.filename,
            disposition="inline",
        )
    return _in_its_language(message)


def _in_its_language(message: EmailMessage) -> EmailMessage:
    """Says the language the mail was built in (confapp.outbox sets it around every builder
    to the recipient's). Set last: setting the content drops Content-* headers set before."""
    message["Content-Language"] = current_language()
    return message
