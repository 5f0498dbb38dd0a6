"""The certificate as an A4 PDF (fpdf2), drawn from the same content dict as the JSON file.

Core PDF fonts (Helvetica, windows-1252) keep a certificate small and fast to render; characters
outside that code page are transliterated. The QR code is drawn as vector squares so it stays
sharp at any print resolution.

The PDF is printed in the customer's language (English or Dutch): its labels, the content's
English words (content.py), the reference names, the decimal sign and one date format
(29/11/2026 in English, 29-11-2026 in Dutch, as the pages write them). What people typed
(descriptions, reasons, deviations) is printed as typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from babel.dates import format_date
from babel.numbers import get_decimal_symbol
from babel.support import NullTranslations, Translations
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from lims.certificates import content as wording
from lims.kernel.errors import Text

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
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
_LOCALES = {"en": "en_GB", "nl": "nl_NL"}
_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMBER = re.compile(r"(?P<below><\s*)?-?\d+(\.\d+)?")
_DECIMAL = re.compile(r"(?<=\d)\.(?=\d)")
_PART = re.compile(r"%\((\w+)\)s")


@lru_cache
def _catalogue(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [locale])


def in_language(text: Text, language: str) -> str:
    """A Text (N_) in `language`, from the same catalogue the certificate's labels come from."""
    return _catalogue(_LOCALES[language]).gettext(text.template) % text.values


@lru_cache
def _reader(template: str) -> re.Pattern[str]:
    """A template's text read back into its parts (a part named twice must be equal)."""
    pieces = _PART.split(template)  # text, part name, text, ...
    seen: set[str] = set()
    out = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(re.escape(piece))
        elif piece in seen:
            out.append(f"(?P={piece})")
        else:
            seen.add(piece)
            out.append(f"(?P<{piece}>.+?)")
    return re.compile("".join(out), re.S)


class Wording:
    """How the certificate says things in one language."""

    def __init__(self, language: str, names: Mapping[str, str]) -> None:
        self.language = language
        self.locale = _LOCALES[language]
        self.gettext = _catalogue(self.locale).gettext
        self.pgettext = _catalogue(self.locale).pgettext
        self.names = names
        self.decimal = get_decimal_symbol(self.locale)

    def name(self, english: str) -> str:
        """A material's, method's, line's or installation's name (or a method's conditions) in
        this language."""
        return self.names.get(english, english)

    def number(self, text: str) -> str:
        """"12.50" or "< 0.05" with this language's decimal sign; other text as it is."""
        return text.replace(".", self.decimal) if _NUMBER.fullmatch(text) else text

    def numbers(self, text: str) -> str:
        """Every decimal number in a text of the lab's (a method's conditions: 2.16 kg)."""
        return _DECIMAL.sub(self.decimal, text)

    def dates(self, text: str) -> str:
        """Every ISO 8601 day in the text in this language's date format."""
        return _ISO_DAY.sub(lambda d: format_date(date.fromisoformat(d.group(0)), "short", self.locale), text)

    def content(self, text: str | None, *templates: str) -> str:
        """One of the content's English texts in this language: a fixed text from the catalogue,
        a composed one (one of `templates`) from its parts; anything else as it is."""
        if not text:
            return ""
        if self.language == "en":
            return self.dates(text)
        fixed = self.gettext(text)
        if fixed != text:
            return fixed
        composed = self._composed(text, templates)
        return self.dates(text) if composed is None else composed

    def written(self, text: str, *templates: str) -> str:
        """What people typed, as typed; unless the lab wrote it from one of `templates`."""
        composed = None if self.language == "en" else self._composed(text, templates)
        return text if composed is None else composed

    def _composed(self, text: str, templates: tuple[str, ...]) -> str | None:
        for template in templates:
            found = _reader(template).fullmatch(text)
            if found is not None:
                parts = {k: self._part(v, templates) for k, v in found.groupdict().items()}
                return self.gettext(template) % parts
        return None

    def _part(self, text: str, templates: tuple[str, ...]) -> str:
        if _NUMBER.fullmatch(text):
            return self.number(text)
        if text in self.names:  # a material's name in a description the lab wrote
            return self.name(text)
        return self.content(text, *templates)


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


def _limit_text(limit: dict | None, say: Wording) -> str:
    if not limit:
        return "-"
    lo, hi = (say.number(limit[k]) if limit.get(k) is not None else None for k in ("min", "max"))
    if lo is not None and hi is not None:
        text = f"{lo} - {hi}"
    elif lo is not None:
        text = f">= {lo}"
    else:
        text = f"<= {hi}"
    return f"{text} ({limit['grade']})"


def _value_text(result: dict, say: Wording) -> str:
    return ("< " if result.get("below_detection_limit") else "") + say.number(str(result["value"]))


class _CertificatePDF(FPDF):
    def __init__(self, content: dict[str, Any], content_hash: str, stamp: str | None, say: Wording) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.core_fonts_encoding = ENCODING
        self.content = content
        self.content_hash = content_hash
        self.stamp = stamp
        self.say = say
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=20)
        self.alias_nb_pages()
        self.set_title(pdf_text(f"{say.content(content['title'])} {content['number']}"))
        self.set_author(pdf_text(content["laboratory"]["name"]))
        self.set_creator("Recyclab")

    def header(self) -> None:
        _ = self.say.gettext
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
        self.cell(70, 6, pdf_text(_("Certificate %(number)s") % {"number": self.content["number"]}), align="R")
        self.set_xy(self.w - MARGIN - 70, top + 6)
        self.set_font("Helvetica", "", 8)
        self.cell(70, 4, pdf_text(_("Page %(page)s/%(pages)s") % {"page": self.page_no(), "pages": "{nb}"}), align="R")
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
            self.put(0, self.h / 2 - 12, self.w, 24, pdf_text(self.say.gettext("WITHDRAWN")), "C")
        self.set_font("Helvetica", "B", 14)
        stamp = self.say.content(self.stamp, wording.REPLACED_ON, wording.WITHDRAWN_ON)
        with self.rotation(40, self.w / 2, self.h / 2):
            self.put(0, self.h / 2 + 10, self.w, 10, pdf_text(stamp), "C")

    def footer(self) -> None:
        _ = self.say.gettext
        self.set_y(-16)
        self.set_draw_color(*RULE)
        self.line(MARGIN, self.get_y(), self.w - MARGIN, self.get_y())
        self.set_text_color(*MUTED)
        self.set_font("Helvetica", "", 7)
        self.cell(
            0,
            4,
            pdf_text(
                _("Certificate %(number)s - page %(page)s/%(pages)s - this certificate may only be reproduced in full.")
                % {"number": self.content["number"], "page": self.page_no(), "pages": "{nb}"}
            ),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.cell(0, 4, pdf_text(_("Content hash %(hash)s") % {"hash": self.content_hash}))

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
    *,
    language: str = "en",
    names: Mapping[str, str] | None = None,
) -> bytes:
    """The PDF; the same inputs give the same bytes (the creation date is the issue time).
    `stamp` (e.g. "on 2026-12-03, replaced by ...-R1") marks every page WITHDRAWN. `language`:
    "en" or "nl"; `names`: English name -> name in that language of the reference rows it names
    (and a method's English conditions -> its conditions in that language)."""
    say = Wording(language, names or {})
    _ = say.gettext
    pdf = _CertificatePDF(content, content_hash, stamp, say)
    pdf.set_creation_date(issued_at)
    pdf.add_page()
    c = content

    pdf.set_text_color(*INK)
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 8, pdf_text(say.content(c["title"])), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    revision = _("Certificate number %(number)s  (revision %(revision)s)") % {"number": c["number"], "revision": c["revision"]}
    pdf.cell(0, 5, pdf_text(revision), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if c.get("replaces"):
        r = c["replaces"]
        pdf.set_text_color(*ACCENT)
        pdf.paragraph(
            _("This certificate replaces certificate %(number)s, withdrawn on %(day)s: %(reason)s")
            % {"number": r["number"], "day": say.dates(r["withdrawn_at"][:10]), "reason": r["reason"]},
            "B",
        )
        pdf.set_text_color(*INK)

    customer = c["customer"]
    item = c["item"]
    d = c["dates"]

    def when(text: str) -> str:
        return say.content(text, wording.SPAN)

    testing = when(d["testing_start"]) if d["testing_start"] == d["testing_end"] else say.content(
        wording.SPAN % {"first": d["testing_start"], "last": d["testing_end"]}, wording.SPAN
    )
    column_w = (pdf.w - 2 * MARGIN - 6) / 2
    top = pdf.get_y()
    pdf.section(_("Customer"))
    left_end = pdf.fields(
        [(_("Name"), customer["name"]), (_("Address"), customer["address"] or "-")],
        width=column_w,
        label_width=18,
    )
    right_x = MARGIN + column_w + 6
    pdf.set_y(top)
    pdf.section(_("Dates"), x=right_x)
    zone = d.get("time_zone", "UTC")
    right_end = pdf.fields(
        [(_("Sampling"), when(d["sampling"])), (_("Receipt"), when(d["receipt"])), (_("Testing"), testing),
         (_("Issue"), when(d["issue"])),
         (_("Time zone"), _("all dates and times in %(zone)s") % {"zone": zone})],
        x=right_x,
        width=column_w,
        label_width=22,
    )
    pdf.set_y(max(left_end, right_end))

    pdf.section(_("Item tested"))
    lot = item.get("lot")
    rows = [
        (_("Description"), say.written(item["description"], wording.LOT_DESCRIPTION, wording.SAMPLE_DESCRIPTION)),
        (_("Material"), f"{item['material']['code']} - {say.name(item['material']['name'])}"),
        (_("Programme line"), say.name(item["line"])),
        (_("Sample(s)"), ", ".join(s["code"] for s in item["samples"])),
    ]
    if lot:
        window = wording.SPAN % {"first": lot["production_start"], "last": lot["production_end"]}
        rows += [
            (_("Lot"), f"{lot['code']} ({say.name(lot['installation'])})"),
            (_("Production window"), say.content(window, wording.SPAN)),
        ]
    recycled = item.get("recycled_content_pct")
    supplied = set(item.get("customer_supplied", []))

    def given(key: str, text: str) -> str:
        return _("%(text)s (customer information)") % {"text": text} if key in supplied else text

    rows += [
        (_("Input stream"), given("input_stream", say.content(item.get("input_stream")) or _("not stated"))),
        (_("Source"), given("source", item.get("source") or _("not stated"))),
        (
            _("Recycled content"),
            given("recycled_content_pct", f"{say.number(recycled)} %" if recycled is not None else _("not stated")),
        ),
        (_("Sampling"), say.content(item.get("sampling", wording.NOT_RECORDED), wording.SAMPLED_BY)),
        *([(_("Sampling plan"), say.content(item["sampling_plan"]))] if item.get("sampling_plan") else []),
        (_("Condition on receipt"), say.content(item["condition"])),
        (_("Place of testing"), say.content(c["laboratory"]["place_of_testing"], wording.AT_PLACE)),
    ]
    pdf.fields(rows)
    if item.get("customer_supplied_note"):
        pdf.set_font("Helvetica", "", 7.5)
        pdf.set_text_color(*MUTED)
        pdf.lines(say.content(item["customer_supplied_note"]), pdf.epw, 3.8)
        pdf.set_text_color(*INK)

    pdf.section(_("Results"))
    _results_table(pdf, c["results"], multi_sample=len(item["samples"]) > 1)
    pdf.set_font("Helvetica", "", 7.5)
    pdf.set_text_color(*MUTED)
    pdf.lines(
        _(
            "U: expanded measurement uncertainty, coverage factor k = 2 (coverage about 95 %). "
            "Limit: specification limit of the grade stated below. In/out: conformity of the "
            "result with that limit under the decision rule."
        ),
        pdf.epw,
        3.8,
    )
    pdf.set_text_color(*INK)
    notes = [
        say.name(r["property_name"]) + (f" ({r['sample']})" if len(item["samples"]) > 1 else "")
        + f": {say.content(note, *wording.NOTES)}"
        for r in c["results"]
        for note in r.get("notes", [])
    ]
    if notes:
        pdf.section(_("Notes on the results"))
        pdf.set_font("Helvetica", "", 8.5)
        for note in notes:
            pdf.lines(f"- {note}", pdf.epw, 4.2)

    conf = c["conformity"]
    pdf.section(_("Statement of conformity"))
    pdf.set_font("Helvetica", "B", 11)
    grade = say.content(conf["grade"])
    pdf.cell(0, 6, pdf_text(_("Grade: %(grade)s") % {"grade": grade}), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(say.content(conf["statement"], *wording.STATEMENTS))
    pdf.paragraph(
        _("Specification: %(specification)s. Decision rule: %(rule)s")
        % {
            "specification": say.content(conf["specification"], wording.SPECIFICATION),
            "rule": say.content(conf["decision_rule_text"]),
        }
    )

    pdf.section(_("Deviations"))
    pdf.paragraph("; ".join(c["deviations"]) if c["deviations"] else _("None."))
    pdf.ln(1)
    pdf.paragraph(say.content(c["remark"]), "B")

    _signature_block(pdf, c, content_hash, verify_url)
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 9)
    end = f"- {say.content(c['end'])} {c['number']} -"
    pdf.cell(0, 5, pdf_text(end), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
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
    say = pdf.say
    _, pgettext = say.gettext, say.pgettext
    conformity = {
        "in": pgettext("conformity", "in"), "out": pgettext("conformity", "out"), "n/a": pgettext("conformity", "n/a")
    }
    headings = [_("Property"), _("Method (standard, conditions)"), _("Result"), _("Unit"), _("U (k=2)"), _("Limit (grade)"), _("In/out")]
    widths = [27, 62, 15, 15, 13, 34, 14]
    align: tuple[str, ...] = ("L", "L", "R", "L", "R", "L", "C")
    if multi_sample:
        headings.insert(0, _("Sample"))
        widths = [24, 22, 50, 13, 14, 12, 31, 14]
        align = ("L", *align)
    pdf.set_text_color(*INK)
    _table_row(pdf, headings, widths, align, HEAD_FILL, bold=True)
    for r in results:
        m = r["method"]
        cells = [
            say.name(r["property_name"]),
            f"{m['standard']}, {say.numbers(say.name(m['conditions']))}" if m["conditions"] else m["standard"],
            _value_text(r, say),
            "-" if r["unit"] in ("", "1") else r["unit"],
            say.number(r["uncertainty"]) if r["uncertainty"] is not None else "-",
            _limit_text(r["limit"], say),
            conformity.get(r["conformity"], r["conformity"]),
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
    say = pdf.say
    _ = say.gettext
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
    pdf.cell(text_w, 5, pdf_text(_("Authorised by")), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    who = c["authorised_by"]
    pdf.set_font("Helvetica", "B", 9)
    pdf.cell(text_w, 4.6, pdf_text(who["name"]), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(text_w, 4.6, pdf_text(f"{say.content(who['role'])}, {c['laboratory']['name']}"), new_x=XPos.LEFT, new_y=YPos.NEXT)
    issued = say.dates(c["issued_at"].replace("T", " ")[:16])
    zone = c["dates"].get("time_zone", "UTC")
    pdf.cell(text_w, 4.6, pdf_text(_("Issued %(when)s %(zone)s") % {"when": issued, "zone": zone}), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 7)
    pdf.set_text_color(*MUTED)
    pdf.lines(
        _(
            "Signed electronically (Ed25519) instead of by hand. Check authenticity and current "
            "status by scanning the code or at %(url)s"
        )
        % {"url": verify_url.split("?")[0]},
        text_w,
        3.4,
        x=MARGIN + 3,
    )
    pdf.set_x(MARGIN + 3)
    pdf.cell(text_w, 3.4, pdf_text(_("Content hash: %(hash)s") % {"hash": content_hash}), new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_text_color(*INK)
    bottom = max(pdf.get_y() + 2, top + qr_size + 4)
    pdf.set_draw_color(*RULE)
    pdf.rect(MARGIN, top, pdf.w - 2 * MARGIN, bottom - top)
    pdf.set_xy(MARGIN, bottom)
