"""Every text the pages show has a Dutch translation, and the compiled catalog is current."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
NL = ROOT / "lims" / "translations" / "nl" / "LC_MESSAGES"


def _source_messages() -> set:
    with open(ROOT / "babel.cfg") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    # N_: the services' messages (lims.kernel.errors.Text); pgettext: words with a context.
    keywords = {
        "_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "N_": None,
        "pgettext": ((1, "c"), 2),
    }
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        ROOT, method_map, options_map, keywords=keywords
    ):
        found.add((context, _plain(message)) if context else _plain(message))
    return found


def _plain(value):
    """Plural forms come as lists or tuples depending on the reader: make them tuples."""
    return tuple(value) if isinstance(value, list | tuple) else value


def _catalog(catalog) -> dict:
    return {(m.context, _plain(m.id)) if m.context else _plain(m.id): _plain(m.string) for m in catalog if m.id}


def test_every_page_text_has_a_current_dutch_translation():
    with open(NL / "messages.po", "rb") as fh:
        po = read_po(fh)
    with open(NL / "messages.mo", "rb") as fh:
        mo = read_mo(fh)
    translated = _catalog(po)
    missing = [m for m in _source_messages() if m not in translated]
    assert not missing, f"run pybabel extract/update (see babel.cfg) and translate: {missing}"
    assert all(translated.values()), [k for k, v in translated.items() if not v]
    assert not [m.id for m in po if m.id and m.fuzzy]
    compiled = _catalog(mo)
    assert compiled == translated, "messages.mo is stale: run pybabel compile -d lims/translations"
