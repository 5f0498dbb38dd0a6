"""Reference data is data: `recyclab seed` loads config/ idempotently and explains bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from lims.cli import main
from lims.kernel.models import AuditEvent, GradeLimit, Method, Sensor
from lims.kernel.settings import config_dir
from lims.seed import SeedError, seed_all
from tests.lims.conftest import ok

SIMULATOR_PROPERTIES = {
    "mfr", "density", "ash", "moisture", "tensile_modulus", "tensile_strength",
    "elongation_at_break", "charpy_notched", "dsc_tm", "pe_in_pp", "filter_pressure_value",
    "intrinsic_viscosity", "colour_l", "colour_a", "colour_b", "cotton_content",
    "polyester_content", "mean_fibre_length", "fabric_tensile_strength",
}


def test_seed_twice_changes_nothing_the_second_time(session_factory):
    with session_factory.begin() as session:
        first = seed_all(session, config_dir())
    assert all(first[k] > 0 for k in first), first
    with session_factory.begin() as session:
        events = session.scalar(select(func.count()).select_from(AuditEvent))
        second = seed_all(session, config_dir())
        assert set(second.values()) == {0}
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events
        assert set(session.scalars(select(Method.property))) == SIMULATOR_PROPERTIES
        assert session.scalar(select(func.count()).select_from(Sensor)) > 20
        assert session.scalar(select(func.count()).select_from(GradeLimit)) > 50


def test_reference_data_is_served_read_only(lab):
    tech = lab.as_("tech")
    materials = {m["key"]: m for m in ok(tech.get("/materials"))}
    assert {"pe-ld", "pe-hd", "pp", "pet", "ps", "po-mix", "cotton", "polyester", "pes-co"} <= set(materials)
    assert materials["pp"]["line"] == "ntk" and "mfr_230_2_16" in materials["pp"]["test_plan"]
    assert [m["key"] for m in ok(tech.get("/materials", query_string={"line": "dctv"}))] == [
        "cotton", "polyester", "pes-co"
    ]
    mfr_pe = ok(tech.get("/methods/mfr_190_2_16"))
    assert (mfr_pe["unit"], mfr_pe["conditions"], mfr_pe["standard"]) == ("g/10 min", "190 °C, 2.16 kg", "ISO 1133-1")
    pet = ok(tech.get("/grade-specs/pet"))
    assert pet["decision_rule"] == "guard_band"
    assert [g["grade"] for g in pet["grades"]] == ["A", "B", "C"]
    # Limits as config/grade_specs.toml writes them, not with the six decimals their column keeps.
    assert pet["grades"][2]["limits"]["intrinsic_viscosity"] == {"min": "0.7", "max": "0.85"}
    assert pet["grades"][0]["limits"]["dsc_tm"] == {"min": "245", "max": "255"}
    assert pet["grades"][0]["limits"]["moisture"] == {"min": None, "max": "0.02"}
    ext1 = ok(tech.get("/installations/ntk-ext1"))
    assert {s["key"] for s in ext1["sensors"]} >= {"melt_temp_c", "melt_pressure_in_bar"}
    assert tech.post("/materials", json={"key": "x"}).status_code == 405


def _broken_config(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    config = tmp_path / "config"
    shutil.copytree(config_dir(), config)
    path = config / filename
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return config


@pytest.mark.parametrize(
    ("filename", "old", "new", "message"),
    [
        ("methods.toml", 'unit = "g/10 min"\ndecimals = 2\nuncertainty_pct = 6.0',
         'decimals = 2\nuncertainty_pct = 6.0', "methods.toml method #3 (mfr_200_5): missing field 'unit'"),
        ("methods.toml", "decimals = 3\nuncertainty = 0.002", 'decimals = "three"\nuncertainty = 0.002',
         "methods.toml method #4 (density_1183): field 'decimals' must be an integer"),
        ("materials.toml", 'line = "dctv"', 'line = "textiles"', "materials.toml material #7 (cotton): unknown line 'textiles'"),
        ("grade_specs.toml", "mfr = { min = 8, max = 16 }", "mfr = { min = 16, max = 8 }",
         "grade_specs.toml grade_spec #1 (pp) grade A mfr: min 16 is above max 8"),
        ("grade_specs.toml", "colour_b = { max = 2.0 }", "colour_z = { max = 2.0 }",
         "grade_spec #4 (pet) grade A colour_z: no method in the test plan of pet measures it"),
        ("test_plans.toml", '"iv_1628"', '"iv_9999"', "test_plans.toml test_plan #4 (pet): unknown method 'iv_9999'"),
        ("users.toml", 'role = "reviewer"', 'role = "boss"', "users.toml user #4 (reviewer): role must be one of"),
        ("organizations.toml", 'kind = "supplier"', 'kind = "friend"', "organizations.toml organization #5"),
        ("methods.toml", "[[method]]\nkey = \"mfr_190_2_16\"", "[[method]\nkey = \"mfr_190_2_16\"", "methods.toml: not valid TOML"),
    ],
)
def test_malformed_file_names_file_and_entry(session_factory, tmp_path, filename, old, new, message):
    config = _broken_config(tmp_path, filename, old, new)
    with pytest.raises(SeedError) as err, session_factory.begin() as session:
        seed_all(session, config)
    assert message in str(err.value)


def test_seed_command_reports_a_bad_file_and_writes_nothing(database_url, session_factory, tmp_path):
    config = _broken_config(tmp_path, "grade_specs.toml", 'decision_rule = "simple"', 'decision_rule = "lenient"')
    result = CliRunner().invoke(
        main, ["seed"], env={"RECYCLAB_DATABASE_URL": database_url, "RECYCLAB_CONFIG_DIR": str(config)}
    )
    assert result.exit_code != 0
    assert "grade_specs.toml grade_spec #2 (pe-hd): decision_rule must be one of" in result.output
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Method)) == 0

    result = CliRunner().invoke(main, ["seed"], env={"RECYCLAB_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Method)) > 20
