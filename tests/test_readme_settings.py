"""README's configuration table is the operator's list of settings: each RECYCLAB_ variable the
program reads is in it once, with the default config/defaults.toml gives."""

from __future__ import annotations

import re
import tomllib

from lims.kernel.settings import PROJECT_ROOT

# Read by the program but no key of defaults.toml (it says where defaults.toml is).
NOT_IN_DEFAULTS = {"RECYCLAB_CONFIG_DIR"}


def _table_rows() -> dict[str, list[str]]:
    """variable -> the default column of each row naming it ("`A_B` / `_C`" names A_B and A_C)."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `RECYCLAB_"):
            continue
        names, default = (cell.strip() for cell in line.strip("|").split("|")[:2])
        first, *shorthands = re.findall(r"`([A-Z_]+)`", names)
        for name in (first, *(first.rsplit("_", 1)[0] + short for short in shorthands)):
            rows.setdefault(name, []).append(default)
    return rows


def test_every_setting_is_in_the_readme_table_once():
    with open(PROJECT_ROOT / "config" / "defaults.toml", "rb") as fh:
        keys = tomllib.load(fh)
    wanted = {f"RECYCLAB_{key.upper()}" for key in keys} | NOT_IN_DEFAULTS
    rows = _table_rows()
    assert sorted(wanted - rows.keys()) == [], "settings the README's table does not list"
    assert sorted(rows.keys() - wanted) == [], "variables in the README's table that nothing reads"
    assert {name: defaults for name, defaults in rows.items() if len(defaults) > 1} == {}, "listed twice"


def test_the_readme_gives_the_defaults_defaults_toml_gives():
    with open(PROJECT_ROOT / "config" / "defaults.toml", "rb") as fh:
        keys = tomllib.load(fh)
    rows = _table_rows()
    for key, value in keys.items():
        if key != "secret_key":  # shown as "a public dev-only value"
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            for default in rows.get(f"RECYCLAB_{key.upper()}", []):
                assert shown in default or (value == "" and "empty" in default), (key, value, default)
