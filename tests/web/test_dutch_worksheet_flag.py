"""A Dutch technician typing a value on the worksheet sees the spec flag's explanation (its hover
text, which the page's script takes from the evaluate answer) in Dutch, numbers with a comma."""

from __future__ import annotations

from sqlalchemy import select

from lims.kernel.models import Analysis, Sample
from tests.web import seed
from tests.web.test_pages import log_in


def _density_flag(client, session_factory, language: str):
    """A technician reading `language` at a PP sample's worksheet: the flag for a typed density."""
    seed.seed_reference(session_factory)
    code = seed.lot_with_samples(session_factory, 1).sample_codes[0]
    with session_factory() as s:
        density = s.scalar(
            select(Analysis).join(Sample).where(Sample.code == code, Analysis.method.has(key="density_1183"))
        )
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    log_in(client, "tech")

    def flag(value: str) -> dict:
        return client.get(f"/lab/analyses/{density.id}/evaluate", query_string={"value": value}).get_json()

    return flag


def test_the_spec_flag_on_a_dutch_worksheet_explains_itself_in_dutch(client, session_factory):
    flag = _density_flag(client, session_factory, "nl-NL,nl;q=0.9")

    # PP density, guard band; its least strict grade (C) allows 0.890 to 0.950 g/cm3, U = 0.002.
    # Limits as the specification writes them, not with the six decimals the database keeps.
    inside = flag("0,905")
    assert inside["label"] == "binnen specificatie"
    assert inside["why"] == "klasse C: 0,905 ligt binnen 0,89..0,95"
    below = flag("0,885")
    assert below["why"] == "klasse C: 0,885 ligt onder min 0,89"
    near = flag("0,949")
    assert near["why"] == "klasse C: 0,949 ± 0,002 overschrijdt max 0,95 (beschermingsband)"


def test_an_english_worksheet_keeps_the_english_explanation(client, session_factory):
    near = _density_flag(client, session_factory, "en-GB")("0.949")
    assert near["why"] == "grade C: 0.949 ± 0.002 crosses max 0.95 (guard band)"


def test_a_dutch_worksheet_gives_a_methods_conditions_in_dutch_on_hover(client, session_factory):
    seed.seed_reference(session_factory)
    code = seed.lot_with_samples(session_factory, 1).sample_codes[0]
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9"
    log_in(client, "tech")
    sheet = client.get(f"/lab/samples/{code}/worksheet").get_data(as_text=True)
    assert 'title="methode A (onderdompeling), 23 °C"' in sheet  # config/methods.toml conditions_nl
    assert "immersion" not in sheet
