"""Issue 16 item 7: the certificate PDF is printed in its customer's language (the organization's
`language`), while the signed content is one and the same JSON; decimals and dates follow it."""

from __future__ import annotations

import json
import re

from lims.certificates.content import TITLE
from tests.certificates.conftest import ok, pdf_text

LOT_NL = "L-EXT1-2026-0101"
LOT_EN = "L-EXT1-2026-0102"


def _certify(lab, lot: str, owner: str) -> dict:
    lab.lot(lot, owner=owner)
    sample = lab.verified_sample(lot, description="Regranulaat PP, big bag 1 van 4")
    return ok(lab.as_("reviewer").post("/certificates", json={"sample": sample}), 201)


def test_a_dutch_customer_gets_a_dutch_pdf_and_an_english_one_an_english_pdf(lab, tmp_path):
    dutch = _certify(lab, LOT_NL, "kunststofkringloop")  # language = "nl" in config/organizations.toml
    english = _certify(lab, LOT_EN, "polyvorm")  # language = "en"
    buyer, polyvorm = lab.as_("buyer"), lab.as_("polyvorm")

    content = json.loads(buyer.get(f"/certificates/{dutch['id']}.json").data)["certificate"]
    assert content["title"] == TITLE  # the signed content stays English: only the print differs
    issued = content["dates"]["issue"]
    nl = " ".join(pdf_text(buyer.get(f"/certificates/{dutch['id']}.pdf").data, tmp_path).split())
    for shown in (
        "Analysecertificaat",
        f"Certificaatnummer {dutch['number']}",
        "Naam Kunststofkringloop Nederland B.V.",
        "Gerecycled polypropeen (spuitgietregranulaat)",  # the material's name_nl
        "Dichtheid ISO 1183-1",  # the methods' name_nl
        "Trekmodulus ISO 527-2",
        "230 °C, 2,16 kg",
        "12,00 g/10 min 0,60 8 - 16 (A) in",  # decimal commas in the results table
        "Uitgifte " + "-".join(reversed(issued.split("-"))),  # dd-mm-yyyy
        "Klasse: A",
        "Het object voldoet aan klasse A van de klassespecificatie van Nationaal Testcentrum Kunststoffen voor PP",
        "bewaakte acceptatie",
        "De resultaten hebben uitsluitend betrekking op de geteste objecten.",
        "Vrijgegeven door",
        "Beoordelaar (senior analist)",
        f"Einde van het certificaat {dutch['number']}",
        "Regranulaat PP, big bag 1 van 4",  # what people typed stays as typed
    ):
        assert shown in nl, shown
    for english_word in ("Certificate of Analysis", "Customer", "Statement of conformity", "12.00", issued):
        assert english_word not in nl, english_word

    en = " ".join(pdf_text(polyvorm.get(f"/certificates/{english['id']}.pdf").data, tmp_path).split())
    for shown in (
        "Certificate of Analysis",
        "Recycled polypropylene (injection moulding regranulate)",
        "Density ISO 1183-1",
        "12.00 g/10 min 0.60 8 - 16 (A) in",
        "Issue " + "/".join(reversed(issued.split("-"))),  # dd/mm/yyyy
        "The item conforms to grade A",
    ):
        assert shown in en, (shown, en)
    assert not re.search(r"Analysecertificaat|Klant|12,00", en)


def test_a_dutch_pdf_gives_the_methods_conditions_in_dutch_and_keeps_standards_and_units(lab, tmp_path):
    dutch = _certify(lab, LOT_NL, "kunststofkringloop")
    nl = " ".join(pdf_text(lab.as_("buyer").get(f"/certificates/{dutch['id']}.pdf").data, tmp_path).split())
    for shown in (
        "ISO 1183-1, methode A (onderdompeling), 23 °C",  # config/methods.toml conditions_nl
        "ISO 3451-1, methode A, directe verassing bij 600",  # "°C" wraps to the next line
        "ISO 11357-3, 10 K/min, tweede opwarming, N2",
        "ISO 1133-1, 230 °C, 2,16 kg",  # no words: only the decimal sign changes
        "g/10 min",
    ):
        assert shown in nl, (shown, nl)
    for english in ("immersion", "calcination", "second heating", "screen pack", "specular included", "edgewise"):
        assert english not in nl, english


def test_a_dutch_pdf_names_its_signature_and_its_attached_file_in_dutch(lab):
    """A PDF reader's signature panel shows the signature's reason, its attachments panel the
    attached file's description: both in the customer's language."""
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    def signature_and_attachment(owner: str, lot: str, who: str) -> tuple[str, str]:
        cert = _certify(lab, lot, owner)
        reader = PdfFileReader(BytesIO(lab.as_(who).get(f"/certificates/{cert['id']}.pdf").data))
        reason = str(reader.embedded_signatures[0].sig_object["/Reason"])
        attached = reader.root["/Names"]["/EmbeddedFiles"]["/Names"][1]
        return reason.replace(cert["number"], "N"), str(attached["/Desc"]).replace(cert["number"], "N")

    assert signature_and_attachment("kunststofkringloop", LOT_NL, "buyer") == (
        "Analysecertificaat N", "Ondertekend certificaatbestand van N"
    )
    assert signature_and_attachment("polyvorm", LOT_EN, "polyvorm") == (
        "Certificate of analysis N", "Signed certificate file of N"
    )


def test_the_description_the_lab_writes_for_a_lot_or_an_undescribed_sample_is_printed_in_dutch(lab, tmp_path):
    lab.lot(LOT_NL, owner="kunststofkringloop")
    for _ in range(2):  # a lot certificate of two samples
        lab.verified_sample(LOT_NL)
    reviewer, buyer = lab.as_("reviewer"), lab.as_("buyer")
    by_lot = ok(reviewer.post("/certificates", json={"lot": LOT_NL}), 201)
    assert by_lot["content"]["item"]["description"].startswith(f"Lot {LOT_NL}: ")  # the signed content: English
    nl = " ".join(pdf_text(buyer.get(f"/certificates/{by_lot['id']}.pdf").data, tmp_path).split())
    assert f"Omschrijving Partij {LOT_NL}: Gerecycled polypropeen (spuitgietregranulaat)" in nl

    lab.lot(LOT_EN, owner="kunststofkringloop")
    sample = lab.verified_sample(LOT_EN)  # no description typed
    one = ok(reviewer.post("/certificates", json={"sample": sample}), 201)
    nl = " ".join(pdf_text(buyer.get(f"/certificates/{one['id']}.pdf").data, tmp_path).split())
    assert f"Omschrijving Gerecycled polypropeen (spuitgietregranulaat), monster {sample}" in nl
    assert "Recycled polypropylene" not in nl


def test_a_dutch_customer_finds_its_certificates_by_the_material_name_it_reads(lab):
    """Kunststofkringloop reads its portal and PDFs in Dutch: 'Gerecycled polypropeen'. Searching
    for the name it reads finds its certificates, as the English name does for an English
    reader; before, the search text held the English name only and 'polypropeen' found none."""
    lab.lot("L-NL-SEARCH", owner="kunststofkringloop")
    cert = ok(lab.as_("reviewer").post("/certificates", json={"sample": lab.verified_sample("L-NL-SEARCH")}), 201)
    buyer = lab.as_("buyer")

    def numbers(q: str) -> list[str]:
        return [c["number"] for c in ok(buyer.get("/certificates", query_string={"q": q}))]

    assert numbers("polypropeen") == [cert["number"]]
    assert numbers("Spuitgietregranulaat") == [cert["number"]]
    assert numbers("polypropylene") == [cert["number"]]
    assert numbers("polyetheen") == []
    # Nobody finds another's certificate by a material name either.
    assert [c["number"] for c in ok(lab.as_("polyvorm").get("/certificates", query_string={"q": "polypropeen"}))] == []
