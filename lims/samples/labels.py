"""Sample labels: the sample ID as Code 128 barcode and QR code, as PNG or PDF.

One raster drawing serves both formats (a PDF label is the same image at 300 dpi), so what
is printed is exactly what a scanner was tested against. The ID is also stored as text in
the file (PNG tEXt chunk / PDF title).
"""

from __future__ import annotations

import io

import segno
from barcode import Code128
from barcode.writer import ImageWriter
from PIL import Image, ImageDraw, ImageFont
from PIL.PngImagePlugin import PngInfo

from lims.kernel.errors import N_
from lims.kernel.models import Sample, User
from lims.permissions import Capability, require

DPI = 300
# 62 x 40 mm, a common continuous-roll label width for lab printers.
WIDTH_PX, HEIGHT_PX = 732, 472
# Whole pixels per bar module (0.254 mm at 300 dpi), so bars print sharp and scan reliably.
MODULE_PX = 3


def label_lines(actor: User, sample: Sample) -> list[str]:
    """The text under the codes. The label is the lab's: it names where the sample is stored."""
    require(actor, Capability.HANDLE_SAMPLES, N_("print sample labels"))
    lines = [
        f"{sample.material.code}  {sample.owner.name}",
        f"Lot {sample.lot.code}" if sample.lot else "",
        sample.storage_location,
    ]
    return [line for line in lines if line]


def _qr(code: str, size: int) -> Image.Image:
    buf = io.BytesIO()
    segno.make(code, error="m", micro=False).save(buf, kind="png", scale=8, border=2)
    buf.seek(0)
    return Image.open(buf).convert("L").resize((size, size), Image.Resampling.NEAREST)


def _barcode(code: str, max_width: int) -> Image.Image:
    for module_px in range(MODULE_PX, 0, -1):
        image = Code128(code, writer=ImageWriter()).render(
            writer_options={
                "module_width": module_px * 25.4 / DPI,
                "module_height": 10.0,
                "quiet_zone": 10 * module_px * 25.4 / DPI,
                "dpi": DPI,
                "write_text": False,
            }
        )
        if image.width <= max_width:
            return image.convert("L")
    raise ValueError(f"{code!r} is too long for a label barcode")


def render(code: str, lines: list[str]) -> Image.Image:
    """The label: QR and the ID in large type with a few lines of detail; Code 128 below."""
    label = Image.new("L", (WIDTH_PX, HEIGHT_PX), 255)
    qr_size = 240
    label.paste(_qr(code, qr_size), (8, 8))
    draw = ImageDraw.Draw(label)
    left = qr_size + 24
    draw.text((left, 20), code, fill=0, font=ImageFont.load_default(size=34))
    small = ImageFont.load_default(size=22)
    for i, line in enumerate(lines[:4]):
        draw.text((left, 72 + 30 * i), line[:34], fill=0, font=small)
    bar = _barcode(code, WIDTH_PX)
    label.paste(bar, ((WIDTH_PX - bar.width) // 2, HEIGHT_PX - bar.height - 8))
    return label


def to_png(code: str, lines: list[str]) -> bytes:
    info = PngInfo()
    info.add_text("sample_id", code)
    buf = io.BytesIO()
    render(code, lines).save(buf, "PNG", pnginfo=info, dpi=(DPI, DPI))
    return buf.getvalue()


def to_pdf(code: str, lines: list[str]) -> bytes:
    return sheet_pdf(code, [(code, lines)])


def sheet_pdf(title: str, labels: list[tuple[str, list[str]]]) -> bytes:
    """Labels (sample ID, lines) one per page, to print a lot's samples in one go."""
    first, *rest = [render(code, lines) for code, lines in labels]
    buf = io.BytesIO()
    first.save(
        buf, "PDF", resolution=DPI, title=title, subject="Recyclab sample label",
        save_all=True, append_images=rest,
    )
    return buf.getvalue()
