"""Reading QR codes the way a door phone does: with ZXing, and only as QR codes.

Asking ZXing for every barcode format lets it find a linear barcode in the
QR's modules now and then (a stray "1532" once failed CI); a scanner looks for QR codes only.
"""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image


def read_qr_codes(image: bytes | Image.Image) -> list[str]:
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [code.text for code in found]
