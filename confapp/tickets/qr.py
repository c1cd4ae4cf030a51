"""QR images of a ticket's URL, as SVG (for screens and print) and PNG (for mail)."""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathFillImage

# Level M restores up to 15% of damaged modules (a creased or smudged printout, a cracked
# screen) while keeping the code coarse enough for a phone to read in poor light.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M


def _qr(data: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=box_size, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_svg(data: str) -> bytes:
    image = _qr(data, box_size=10).make_image(image_factory=SvgPathFillImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def qr_png(data: str, box_size: int = 8) -> bytes:
    image = _qr(data, box_size=box_size).make_image(
        image_factory=PilImage, fill_color="black", back_color="white"
    )
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()
