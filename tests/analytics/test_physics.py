"""The simulator's cause and effect: each documented relation moves the property the right way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analytics.simulator.physics import (
    SIMULATED,
    Excursion,
    GlycolysisReactor,
    PetExtrusion,
    PilotPlant,
    PolyolefinExtrusion,
    TearingLine,
    WashLine,
)
from ingest.alarms import AlarmTracker
from ingest.registry import load_registry

T = np.arange(0.0, 2 * 3600, 60.0)


def _run(model, material, hidden, **change):
    """Same random draws for both arms, so only the changed factor differs."""
    return model.run(np.random.default_rng(7), material, {**hidden, **change}, T)


def _hidden(model, material, seed=3):
    return model.hidden(np.random.default_rng(seed), material, True, 0.0)


@pytest.mark.parametrize("factor,low,high", [("melt_setpoint", 210, 250), ("screw_speed", 180, 380)])
def test_pp_chain_scission_raises_mfr_with_temperature_and_shear(factor, low, high):
    m = PolyolefinExtrusion()
    h = _hidden(m, "pp")
    _, cold = _run(m, "pp", h, **{factor: low})
    _, hot = _run(m, "pp", h, **{factor: high})
    assert hot["mfr"] > cold["mfr"] * 1.05


def test_pe_crosslinks_instead_mfr_falls_with_thermal_dose():
    m = PolyolefinExtrusion()
    h = _hidden(m, "pe-hd")
    _, cold = _run(m, "pe-hd", h, melt_setpoint=200)
    _, hot = _run(m, "pe-hd", h, melt_setpoint=245)
    assert hot["mfr"] < cold["mfr"]


def test_pe_in_pp_lowers_charpy_and_shows_in_the_lab_value():
    m = PolyolefinExtrusion()
    h = _hidden(m, "pp")
    _, clean = _run(m, "pp", h, pe_in_pp=1.0)
    _, mixed = _run(m, "pp", h, pe_in_pp=12.0)
    assert mixed["charpy_notched"] < 0.75 * clean["charpy_notched"]
    assert mixed["pe_in_pp"] == 12.0


@pytest.mark.parametrize("model,material", [(PolyolefinExtrusion(), "pp"), (PetExtrusion(), "pet")])
def test_contamination_clogs_the_screen_and_raises_fpv_and_ash(model, material):
    h = _hidden(model, material)
    s_clean, p_clean = _run(model, material, h, contamination=0.05)
    s_dirty, p_dirty = _run(model, material, h, contamination=2.0)
    assert p_dirty["filter_pressure_value"] > p_clean["filter_pressure_value"] + 1
    assert p_dirty["ash"] > p_clean["ash"]

    def drop_rise(series):
        dp = series["melt_pressure_in_bar"] - series["melt_pressure_out_bar"]
        return dp[-10:].mean() - dp[:10].mean()

    assert drop_rise(s_dirty) > drop_rise(s_clean) + 10


def test_moisture_hydrolyses_pet_and_lowers_iv():
    m = PetExtrusion()
    h = _hidden(m, "pet")
    s_dry, dry = _run(m, "pet", h, dewpoint=-60)
    s_wet, wet = _run(m, "pet", h, dewpoint=-20)
    assert s_wet["melt_moisture_ppm"].mean() > 3 * s_dry["melt_moisture_ppm"].mean()
    assert wet["intrinsic_viscosity"] < dry["intrinsic_viscosity"] - 0.02


def test_faster_tearing_drum_shortens_fibres_and_weakens_fabric():
    m = TearingLine()
    h = _hidden(m, "cotton")
    s_slow, slow = _run(m, "cotton", h, drum_speed=1100)
    s_fast, fast = _run(m, "cotton", h, drum_speed=2200)
    assert fast["mean_fibre_length"] < 0.6 * slow["mean_fibre_length"]
    assert fast["fabric_tensile_strength"] < slow["fabric_tensile_strength"]
    assert s_fast["fibre_length_mm"].mean() < s_slow["fibre_length_mm"].mean()


def test_hotter_caustic_wash_leaves_less_ash():
    m = WashLine()
    h = _hidden(m, "pp")
    _, cold = _run(m, "pp", h, water_temp=55)
    _, hot = _run(m, "pp", h, water_temp=90)
    assert hot["ash"] < cold["ash"]
    assert hot["colour_l"] > cold["colour_l"]


def test_incomplete_glycolysis_gives_weaker_fibre():
    m = GlycolysisReactor()
    h = _hidden(m, "polyester")
    _, short = _run(m, "polyester", h, temp=195, residence=60)
    _, full = _run(m, "polyester", h, temp=215, residence=200)
    assert short["intrinsic_viscosity"] < full["intrinsic_viscosity"]
    assert short["fabric_tensile_strength"] < full["fabric_tensile_strength"]
    assert short["polyester_content"] < full["polyester_content"]


def test_too_severe_glycolysis_yellows_and_lowers_tm():
    m = GlycolysisReactor()
    h = _hidden(m, "polyester")
    _, mild = _run(m, "polyester", h, temp=205, residence=200)
    _, severe = _run(m, "polyester", h, temp=235, residence=300)
    assert severe["colour_b"] > mild["colour_b"]
    assert severe["dsc_tm"] < mild["dsc_tm"]


def test_plant_is_reproducible_labelled_and_inside_sensor_ranges():
    registry = load_registry()
    start = datetime(2026, 1, 5, tzinfo=UTC)
    a = list(PilotPlant(registry.installations, 11, start).lots(40))
    b = list(PilotPlant(registry.installations, 11, start).lots(40))
    assert [x.properties for x in a] == [x.properties for x in b]
    assert {x.plan.installation for x in a} == set(registry.installations)
    for lot in a:
        assert lot.plan.source.startswith(SIMULATED)
        assert lot.plan.start < lot.plan.end
        sensors = registry.installations[lot.plan.installation].sensors
        assert set(lot.series) == set(sensors)
        for key, values in lot.series.items():
            assert len(values) == len(lot.t)
            assert sensors[key].min <= values.min() and values.max() <= sensors[key].max
    by_inst: dict[str, list] = {}
    for lot in a:
        by_inst.setdefault(lot.plan.installation, []).append(lot.plan)
    for plans in by_inst.values():  # one installation never runs two lots at once
        assert all(p.end <= q.start for p, q in zip(plans, plans[1:], strict=False))


def _alarms(registry, lot):
    """What the ingester's alarm tracker opens and closes for the lot's readings."""
    inst = lot.plan.installation
    rows = [
        (inst, key, int(ts), float(values[i]))
        for i, ts in enumerate(lot.timestamps_ns())
        for key, values in lot.series.items()
    ]
    return AlarmTracker(registry).observe(rows)


def test_the_demo_excursion_trips_an_alarm_limit_once():
    registry = load_registry()
    start = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

    def first_lots(excursion):
        plant = PilotPlant(registry.installations, 5, start, running_start=True, excursion=excursion)
        return [plant.run(plant.plan(key), 1.0) for key in ("ntk-ext1", "ntk-ext2")]

    plain = first_lots(None)
    tripped = first_lots(Excursion(after=20, duration=60))
    sensor = "zone1_temp_c"  # ntk-ext1's first sensor with a high alarm limit (250 °C)
    assert not [a for a in _alarms(registry, plain[0]) if a.sensor == sensor]
    alarms = [a for a in _alarms(registry, tripped[0]) if a.sensor == sensor]
    assert len(alarms) == 1
    alarm = alarms[0]
    assert alarm.kind == "high" and alarm.limit == 250
    assert alarm.started_at == start + timedelta(seconds=20)
    assert alarm.ended_at == start + timedelta(seconds=80)
    assert alarm.peak_value == pytest.approx(250 + 0.1 * (400 - 250))
    # Once only: the next lot runs as it would have without the excursion.
    np.testing.assert_array_equal(tripped[1].series["melt_temp_c"], plain[1].series["melt_temp_c"])
