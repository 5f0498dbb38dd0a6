"""Whatever an instrument writes, the CSV import answers with row errors, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lims.kernel.clock import today_in
from lims.kernel.errors import InputError
from lims.kernel.models import User
from lims.samples.imports import import_results
from lims.samples.registration import LAB_ZONE, SampleRequest, register_samples
from lims.samples.workflow import receive


@pytest.fixture
def received(seeded, session_factory) -> None:
    with session_factory.begin() as session:
        tech = session.scalar(select(User).where(User.username == "tech"))
        (sample,) = register_samples(session, tech, [SampleRequest(material="pp", owner="polyvorm")])
        receive(session, tech, sample)
    assert sample.code == SAMPLE

SAMPLE = f"NTK-{today_in(LAB_ZONE).year}-000001"  # the first sample of a clean database (the lab's year)
junk = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


def column(*likely: str) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(likely), junk)


# Rows that mostly look like the real thing, so the checks behind the sample lookup run too.
good_row = st.tuples(
    column(SAMPLE, "NTK-2026-999999", ""),
    column("mfr_230_2_16", "ash_3451", "density_1183", "iv_1628"),
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.floats().map(str),
        column("< 0.05", "<", "< -1", "<0.01", "1e400", "nan", "-0", "12,5"),
    ),
    column("g/10 min", "%", "g/cm3", "g/cm³", ""),
    column("", "0.1", "-1", "x"),
    column("", "MFR-02"),
    column("", "tech2", "polyvorm", "nobody"),
    column("", "2026-03-03T10:00:00+01:00", "2026-03-03T10:00:00", "yesterday"),
).map(list)
rows = st.lists(st.one_of(good_row, st.lists(junk, max_size=10)), max_size=6)
header = st.sampled_from([
    "sample_id,method,value,unit,uncertainty,instrument,analyst,measured_at",
    "sample_id,method,value,unit",
    "method,value",
    "",
])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=header, body=rows, raw=st.text(max_size=80))
def test_any_file_gives_input_errors_only(received, session_factory, head, body, raw):
    lines = [head, *(",".join(f'"{c}"' if "," in c or '"' in c else c for c in r) for r in body)]
    for text in ("\n".join(lines), raw):
        with session_factory() as session:
            tech = session.scalar(select(User).where(User.username == "tech"))
            try:
                import_results(session, tech, text)
            except InputError as exc:
                assert exc.errors
            finally:
                session.rollback()


def test_a_file_with_nul_characters_is_refused_as_not_text(received, session_factory):
    """Found by the test above on PostgreSQL: a NUL in a cell reached the sample lookup, which
    PostgreSQL refuses (a 422 naming no field through the API). A CSV saved as UTF-16 is full
    of them."""
    utf16 = "sample_id,method,value,unit\n".encode("utf-16-le").decode("utf-8")
    for text in ("sample_id,method,value,unit\n\x00,mfr_230_2_16,12,g/10 min", utf16):
        with session_factory() as session:
            tech = session.scalar(select(User).where(User.username == "tech"))
            with pytest.raises(InputError) as refused:
                import_results(session, tech, text)
            assert "NUL" in str(refused.value.errors["file"][0])
