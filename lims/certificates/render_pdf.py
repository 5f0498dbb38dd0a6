"""The certificate as an A4 PDF (fpdf2), drawn from the same content dict as the JSON file.

Core PDF fonts (Helvetica, windows-1252) keep a certificate small and fast to render; characters
outside that code page are transliterated. The QR code is drawn as vector squares so it stays
sharp at any print resolution.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

import segno
from fpdf import FPDF
from fpdf.enums import XPos, YPos

ENCODING = "windows-1252"
MARGIN = 15
INK = (25, 35, 45)
MUTED = (95, 105, 115)
ACCENT = (0, 92, 120)
RULE = (190, 198, 205)
HEAD_FILL = (228, 238, 242)
OUT_FILL = (250, 225, 222)
STAMP = (247, 205, 199)
_SUBSTITUTES = {"≤": "<=", "≥": ">=", "−": "-", "→": "->", "×": "x", "✓": "yes"}


def pdf_text(value: object) -> str:
    """`value` as text the core fonts can show."""
    text = "" if value is None else str(value)
    try:
        text.encode(ENCODING)
        return text
    except UnicodeEncodeError:
        pass
    out = []
    for ch in text:
        try:
            ch.encode(ENCODING)
            out.append(ch)
        except UnicodeEncodeError:
            plain = _SUBSTITUTES.get(ch) or unicodedata.normalize("NFKD", ch).encode(
                "ascii", "ignore"
            ).decode()
            out.append(plain or "?")
    return "".join(out)


def _limit_text(limit: dict | None) -> str:
    if not limit:
        return "-"
    lo, hi = limit.get("min"), limit.get("max")
    if lo is not None and hi is not None:
        text = f"{lo} - {hi}"
    elif lo is not None:
        text = f">= {lo}"
    else:
        text = f"<= {hi}"
    return f"{text} ({limit['grade']})"


def _value_text(result: dict) -> str:
    return ("< " if result.get("below_detection_limit") else "") + str(result["value"])


class _CertificatePDF(FPDF):
    def __init__(self, content: dict[str, Any], content_hash: str, stamp: str | None) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = ENCODING
        self.content = content
        self.content_hash = content_hash
        self.stamp = stamp
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=20)
        self.alias_nb_pages()
        self.set_title(pdf_text(f"{content['title']} {content['number']}"))
        self.set_author(pdf_text(content["laboratory"]["name"]))
        self.set_creator("Recyclab")

    def header(self) -> None:
        if self.stamp:
            self._stamp()
        lab = self.content["laboratory"]
        self.set_text_color(*ACCENT)
        self.set_font("Helvetica", "B", 13)
        self.cell(110, 6, pdf_text(lab["name"]), new_x=XPos.LEFT, new_y=YPos.NEXT)
        self.set_text_color(*MUTED)
        self.set_font("Helvetica", "", 8)
        self.cell(110, 4, pdf_text(lab["address"]))
        top = MARGIN
        self.set_xy(self.w - MARGIN - 70, top)
        self.set_text_color(*INK)
        self.set_font("Helvetica", "B", 9)
        self.cell(70, 6, pdf_text(f"Certificate {self.content['number']}"), align="R")
        self.set_xy(self.w - MARGIN - 70, top + 6)
        self.set_font("Helvetica", "", 8)
        self.cell(70, 4, f"Page {self.page_no()}/{{nb}}", align="R")
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.6)
        self.line(MARGIN, top + 12, self.w - MARGIN, top + 12)
        self.set_line_width(0.2)
        self.set_y(top + 16)

    def _stamp(self) -> None:
        """A withdrawn certificate downloaded later says so across every page, under the text."""
        self.set_text_color(*STAMP)
        self.set_font("Helvetica", "B", 54)
        with self.rotation(40, self.w / 2, self.h / 2):
            self.put(0, self.h / 2 - 12, self.w, 24, "WITHDRAWN", "C")
        self.set_font("Helvetica", "B", 14)
        with self.rotation(40, self.w / 2, self.h / 2):
            self.put(0, self.h / 2 + 10, self.w, 10, pdf_text(self.stamp), "C")

    def footer(self) -> None:
        self.set_y(-16)
        self.set_draw_color(*RULE)
        self.line(MARGIN, self.get_y(), self.w - MARGIN, self.get_y())
        self.set_text_color(*MUTED)
        self.set_font("Helvetica", "", 7)
        self.cell(
            0,
            4,
            pdf_text(
                f"Certificate {self.content['number']} - page {self.page_no()}/{{nb}} - "
                "this certificate may only be reproduced in full."
            ),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.cell(0, 4, f"Content hash {self.content_hash}")

    # --- building blocks -------------------------------------------------------------

    def section(self, title: str, x: float = MARGIN) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.set_y(self.get_y() + 1.5)
        self.set_x(x)
        self.set_text_color(*ACCENT)
        self.set_font("Helvetica", "B", 10)
        self.cell(0, 5.5, pdf_text(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(*INK)

    def fields(self, rows: list[tuple[str, str]], x: float = MARGIN, width: float | None = None, label_width: float = 38) -> float:
        """Label/value rows in a column starting at x; returns the y below the last row."""
        width = width if width is not None else self.w - MARGIN - x
        value_w = width - label_width
        for label, value in rows:
            self.set_x(x)
            self.set_font("Helvetica", "B", 8.5)
            self.set_text_color(*MUTED)
            self.put(x, self.get_y(), label_width, 4.6, pdf_text(label))
            self.set_font("Helvetica", "", 8.5)
            self.set_text_color(*INK)
            self.lines(value, value_w, 4.6, x=x + label_width)
        return self.get_y()

    def lines(self, text: str, width: float, line_h: float, x: float | None = None) -> None:
        """Wrapped text, left-aligned; the cursor ends below it at the margin."""
        x = self.l_margin if x is None else x
        for line in _wrap(self, pdf_text(text), width - 2 * self.c_margin):
            if self.get_y() + line_h > self.page_break_trigger:
                self.add_page()
            self.put(x, self.get_y(), width, line_h, line)
            self.set_y(self.get_y() + line_h)

    def put(self, x: float, y: float, width: float, line_h: float, text: str, align: str = "L") -> None:
        """One line of text in the box (x, y, width, line_h), like cell() but without its layout
        machinery: FPDF.text() is an order of magnitude faster, which matters for throughput."""
        if align == "L":
            left = x + self.c_margin
        else:
            spare = width - _text_width(self, text)
            left = x + (spare - self.c_margin if align == "R" else spare / 2)
        self.text(left, y + line_h / 2 + 0.3 * self.font_size, text)

    def paragraph(self, text: str, style: str = "", size: float = 9) -> None:
        self.set_font("Helvetica", style, size)
        self.lines(text, self.epw, 4.6)

    def qr(self, data: str, x: float, y: float, size: float) -> None:
        # A fixed mask skips segno's search for the best of eight (most of its encoding time);
        # every mask is valid QR and scanners read it all the same.
        matrix = segno.make(data, error="m", mask=2).matrix
        n = len(matrix) + 8  # 4-module quiet zone on each side
        module = size / n
        self.set_fill_color(255, 255, 255)
        self.rect(x, y, size, size, style="F")
        # All dark runs as one filled path: one rect() per run costs more than the rest of the page.
        k = self.k
        ops = []
        for r, row in enumerate(matrix):
            top = self.h - (y + (4 + r) * module)
            c = 0
            while c < len(row):
                if row[c]:
                    run = c
                    while run < len(row) and row[run]:
                        run += 1
                    left = x + (4 + c) * module
                    ops.append(f"{left * k:.2f} {top * k:.2f} {(run - c) * module * k:.2f} {-module * k:.2f} re")
                    c = run
                else:
                    c += 1
        self._out("q 0 g " + " ".join(ops) + " f Q")


def render(
    content: dict[str, Any],
    content_hash: str,
    verify_url: str,
    issued_at: datetime,
    stamp: str | None = None,
) -> bytes:
    """The PDF; the same inputs give the same bytes (the creation date is the issue time).
    `stamp` (e.g. "replaced by ...-R1") marks every page WITHDRAWN."""
    pdf = _CertificatePDF(content, content_hash, stamp)
    pdf.set_creation_date(issued_at)
    pdf.add_page()
    c = content

    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 8, pdf_text(c["title"]), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    revision = f"Certificate number {c['number']}  (revision {c['revision']})"
    pdf.cell(0, 5, pdf_text(revision), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if c.get("replaces"):
        r = c["replaces"]
        pdf.set_text_color(*ACCENT)
        pdf.paragraph(
            f"This certificate replaces certificate {r['number']}, withdrawn on "
            f"{r['withdrawn_at'][:10]}: {r['reason']}",
            "B",
        )
        pdf.set_text_color(*INK)

    customer = c["customer"]
    item = c["item"]
    d = c["dates"]
    testing = d["testing_start"] if d["testing_start"] == d["testing_end"] else f"{d['testing_start']} to {d['testing_end']}"
    column_w = (pdf.w - 2 * MARGIN - 6) / 2
    top = pdf.get_y()
    pdf.section("Customer")
    left_end = pdf.fields(
        [("Name", customer["name"]), ("Address", customer["address"] or "-")],
        width=column_w,
        label_width=18,
    )
    right_x = MARGIN + column_w + 6
    pdf.set_y(top)
    pdf.section("Dates", x=right_x)
    right_end = pdf.fields(
        [("Sampling", d["sampling"]), ("Receipt", d["receipt"]), ("Testing", testing), ("Issue", d["issue"]),
         ("Time zone", f"all dates and times in {d.get('time_zone', 'UTC')}")],
        x=right_x,
        width=column_w,
        label_width=22,
    )
    pdf.set_y(max(left_end, right_end))

    pdf.section("Item tested")
    lot = item.get("lot")
    rows = [
        ("Description", item["description"]),
        ("Material", f"{item['material']['code']} - {item['material']['name']}"),
        ("Programme line", item["line"]),
        ("Sample(s)", ", ".join(s["code"] for s in item["samples"])),
    ]
    if lot:
        rows += [
            ("Lot", f"{lot['code']} ({lot['installation']})"),
            ("Production window", f"{lot['production_start']} to {lot['production_end']}"),
        ]
    recycled = item.get("recycled_content_pct")
    supplied = set(item.get("customer_supplied", []))

    def given(key: str, text: str) -> str:
        return f"{text} (customer information)" if key in supplied else text

    rows += [
        ("Input stream", given("input_stream", item.get("input_stream") or "not stated")),
        ("Source", given("source", item.get("source") or "not stated")),
        (
            "Recycled content",
            given("recycled_content_pct", f"{recycled} %" if recycled is not None else "not stated"),
        ),
        ("Sampling", item.get("sampling", "not recorded")),
        *([("Sampling plan", item["sampling_plan"])] if item.get("sampling_plan") else []),
        ("Condition on receipt", item["condition"]),
        ("Place of testing", c["laboratory"]["place_of_testing"]),
    ]
    pdf.fields(rows)
    if item.get("customer_supplied_note"):
        pdf.set_font("Helvetica", "", 7.5)
        pdf.set_text_color(*MUTED)
        pdf.lines(item["customer_supplied_note"], pdf.epw, 3.8)
        pdf.set_text_color(*INK)

    pdf.section("Results")
    _results_table(pdf, c["results"], multi_sample=len(item["samples"]) > 1)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_text_color(*MUTED)
    pdf.lines(
        "U: expanded measurement uncertainty, coverage factor k = 2 (about 95 % coverage). "
        "Limit: specification limit of the grade stated below. In/out: conformity of the "
        "result with that limit under the decision rule.",
        pdf.epw,
        3.8,
    )
    pdf.set_text_color(*INK)
    notes = [
        f"{r['property_name']}" + (f" ({r['sample']})" if len(item["samples"]) > 1 else "") + f": {note}"
        for r in c["results"]
        for note in r.get("notes", [])
    ]
    if notes:
        pdf.section("Notes on the results")
        pdf.set_font("Helvetica", "", 8.5)
        for note in notes:
            pdf.lines(f"- {note}", pdf.epw, 4.2)

    conf = c["conformity"]
    pdf.section("Statement of conformity")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 6, pdf_text(f"Grade: {conf['grade']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(conf["statement"])
    pdf.paragraph(f"Specification: {conf['specification']}. Decision rule: {conf['decision_rule_text']}")

    pdf.section("Deviations")
    pdf.paragraph("; ".join(c["deviations"]) if c["deviations"] else "None.")
    pdf.ln(1)
    pdf.paragraph(c["remark"], "B")

    _signature_block(pdf, c, content_hash, verify_url)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(0, 5, pdf_text(f"- {c['end']} {c['number']} -"), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def _text_width(pdf: FPDF, text: str) -> float:
    """Width in mm with the current core font (what fpdf2 computes, without its per-call overhead)."""
    widths = pdf.current_font.cw
    return sum(widths.get(ch, 600) for ch in text) * pdf.font_size / 1000


def _split_long(pdf: FPDF, words: list[str], width: float) -> list[str]:
    """Words wider than a line (codes, URLs) are cut into pieces that fit."""
    out = []
    for word in words:
        while _text_width(pdf, word) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and _text_width(pdf, word[:cut]) > width:
                cut -= 1
            out.append(word[:cut])
            word = word[cut:]
        out.append(word)
    return out


def _wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Greedy word wrap (fpdf2's own line breaker is several times slower)."""
    space = _text_width(pdf, " ")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, line_w = "", 0.0
        for word in _split_long(pdf, paragraph.split(" "), width):
            word_w = _text_width(pdf, word)
            if line and line_w + space + word_w > width:
                lines.append(line)
                line, line_w = word, word_w
            elif line:
                line, line_w = f"{line} {word}", line_w + space + word_w
            else:
                line, line_w = word, word_w
        lines.append(line)
    return lines


def _table_row(pdf: _CertificatePDF, cells: list[str], widths: list[float], align: tuple[str, ...], fill=None, bold: bool = False) -> bool:
    """One table row; returns False (drawing nothing) when it does not fit on this page."""
    line_h, pad = 3.6, 1.0
    pdf.set_font("Helvetica", "B" if bold else "", 7.5)
    wrapped = [_wrap(pdf, text, w - 2 * pad) for text, w in zip(cells, widths, strict=True)]
    height = max(len(lines) for lines in wrapped) * line_h + 2 * pad
    if pdf.get_y() + height > pdf.page_break_trigger:
        return False
    x, y = MARGIN, pdf.get_y()
    if fill:
        pdf.set_fill_color(*fill)
        pdf.rect(x, y, sum(widths), height, style="F")
    for lines, w, a in zip(wrapped, widths, align, strict=True):
        for k, line in enumerate(lines):
            pdf.put(x + pad, y + pad + k * line_h, w - 2 * pad, line_h, line, a)
        x += w
    pdf.set_draw_color(*RULE)
    pdf.line(MARGIN, y + height, MARGIN + sum(widths), y + height)
    pdf.set_xy(MARGIN, y + height)
    return True


def _results_table(pdf: _CertificatePDF, results: list[dict], multi_sample: bool) -> None:
    headings = ["Property", "Method (standard, conditions)", "Result", "Unit", "U (k=2)", "Limit (grade)", "In/out"]
    widths = [27, 62, 15, 15, 13, 34, 14]
    align: tuple[str, ...] = ("L", "L", "R", "L", "R", "L", "C")
    if multi_sample:
        headings.insert(0, "Sample")
        widths = [24, 22, 50, 13, 14, 12, 31, 14]
        align = ("L", *align)
    pdf.set_text_color(*INK)
    _table_row(pdf, headings, widths, align, HEAD_FILL, bold=True)
    for r in results:
        m = r["method"]
        cells = [
            r["property_name"],
            f"{m['standard']}, {m['conditions']}" if m["conditions"] else m["standard"],
            _value_text(r),
            "-" if r["unit"] in ("", "1") else r["unit"],
            r["uncertainty"] if r["uncertainty"] is not None else "-",
            _limit_text(r["limit"]),
            r["conformity"],
        ]
        if multi_sample:
            cells.insert(0, r["sample"])
        cells = [pdf_text(cell) for cell in cells]
        fill = OUT_FILL if r["conformity"] == "out" else None
        if not _table_row(pdf, cells, widths, align, fill):
            pdf.add_page()
            _table_row(pdf, headings, widths, align, HEAD_FILL, bold=True)
            _table_row(pdf, cells, widths, align, fill)


def _signature_block(pdf: _CertificatePDF, c: dict, content_hash: str, verify_url: str) -> None:
    qr_size = 30
    if pdf.get_y() + qr_size + 16 > pdf.h - 20:  # the block and the end line stay together
        pdf.add_page()
    pdf.ln(3)
    top = pdf.get_y()
    pdf.qr(verify_url, pdf.w - MARGIN - qr_size - 2, top + 2, qr_size)
    text_w = pdf.w - 2 * MARGIN - qr_size - 10
    pdf.set_xy(MARGIN + 3, top + 3)
    pdf.set_text_color(*ACCENT)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(text_w, 5, "Authorised by", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    who = c["authorised_by"]
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(text_w, 4.6, pdf_text(who["name"]), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(text_w, 4.6, pdf_text(f"{who['role']}, {c['laboratory']['name']}"), new_x=XPos.LEFT, new_y=YPos.NEXT)
    issued = c["issued_at"].replace("T", " ")[:16]
    zone = c["dates"].get("time_zone", "UTC")
    pdf.cell(text_w, 4.6, pdf_text(f"Issued {issued} {zone}"), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 7)
    pdf.set_text_color(*MUTED)
    pdf.lines(
        "Signed electronically (Ed25519) instead of by hand. Check authenticity and current "
        f"status by scanning the code or at {verify_url.split('?')[0]}",
        text_w,
        3.4,
        x=MARGIN + 3,
    )
    pdf.set_x(MARGIN + 3)
    pdf.cell(text_w, 3.4, pdf_text(f"Content hash: {content_hash}"), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    bottom = max(pdf.get_y() + 2, top + qr_size + 4)
    pdf.set_draw_color(*RULE)
    pdf.rect(MARGIN, top, pdf.w - 2 * MARGIN, bottom - top)
    pdf.set_xy(MARGIN, bottom)
