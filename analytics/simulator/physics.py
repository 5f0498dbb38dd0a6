"""Process models of the pilot installations: SIMULATED sensor series and lot properties.

Pure numpy with a caller-supplied ``numpy.random.Generator``, so a seed reproduces a run.
Every lot gets hidden factors (feed contamination, feed moisture, PE-in-PP, screen state,
set-points, upsets) that the sensors see only partly and with noise; the true material
properties of the lot follow from them by the cause-and-effect relations documented on each
model. The lab's method scatter is added by analytics.lims_link from the LIMS methods.

The relations are deliberately simple, monotonic, literature-shaped approximations; the
numbers are plausible magnitudes for recyclate, not fitted to any plant. Sources (general):

* PP chain scission: MFR rises with melt temperature, shear (screw speed / specific energy)
  and residence time -- e.g. Gonzalez-Gonzalez et al., Polym. Degrad. Stab. (PP multiple
  extrusion); da Costa et al., Polym. Degrad. Stab. (PP degradation in extrusion).
* PE under the same conditions tends to branch/crosslink, so its MFR falls slightly
  (e.g. Pinheiro et al., Polym. Degrad. Stab., on HDPE reprocessing).
* PET hydrolysis in the melt lowers the intrinsic viscosity with melt moisture and
  temperature -- e.g. Assadi et al., Polymer; Seo & Cloyd, J. Appl. Polym. Sci.
  (hydrolytic degradation of PET during melt processing).
* Non-melting contamination (paper, wood, aluminium, sand) clogs the melt screen -- rising
  pressure drop before/after the screen changer -- and what passes raises the filter
  pressure value (EN ISO 23900-5) and the ash (ISO 3451).
* PE in PP recyclate forms an incompatible blend and lowers notched impact strength
  (ISO 179) -- e.g. Bertin & Robin, Eur. Polym. J.; Vilaplana & Karlsson, Macromol. Mater. Eng.
* Mechanical tearing shortens fibres more at higher drum speed and more passes --
  e.g. Lindström et al., Textile Res. J.; Le, "Textile recycling technologies" (review).
* Glycolysis of PES: conversion rises with temperature and residence time (Arrhenius); too
  severe conditions form side products (DEG) that lower Tm and yellow the product --
  e.g. Ghaemy & Mossaddegh, Polym. Degrad. Stab.; Chen et al., J. Appl. Polym. Sci.
* Hot caustic washing removes more organic contamination at higher temperature and NaOH
  concentration; dissolved dirt raises the wash water conductivity (e.g. Cardon et al. and
  the Plastics Recyclers Europe wash-line guidance).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from scipy.signal import lfilter

from ingest.registry import Installation

SIMULATED = "SIMULATED"


def from_simulator(source: str) -> bool:
    """A lot whose source says it is the simulator's (every simulated lot's starts so)."""
    return source.startswith(SIMULATED)


@dataclass(frozen=True)
class LotPlan:
    """A production lot before it runs: metadata plus the hidden factors the physics uses."""

    lot_key: str
    installation: str
    material: str
    input_stream: str  # post-consumer | post-industrial
    source: str  # human description, always starting with SIMULATED
    recycled_content: float  # % of recycled input
    start: datetime
    end: datetime
    hidden: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SimulatedLot:
    plan: LotPlan
    t: np.ndarray  # seconds since plan.start
    series: dict[str, np.ndarray]  # per sensor key, same length as t
    properties: dict[str, float]  # true properties of the produced material

    def timestamps_ns(self) -> np.ndarray:
        start_ns = int(self.plan.start.timestamp()) * 1_000_000_000
        return start_ns + (self.t * 1e9).astype(np.int64)


def _wander(rng: np.random.Generator, n: int, sd: float, phi: float = 0.97) -> np.ndarray:
    """Slow AR(1) drift with stationary standard deviation ``sd`` (process wander)."""
    e = rng.standard_normal(n) * sd * math.sqrt(1 - phi * phi)
    x0 = rng.standard_normal() * sd
    return lfilter([1.0], [1.0, -phi], e, zi=[phi * x0])[0]


def _sensor(rng: np.random.Generator, level: np.ndarray | float, n: int, noise: float, wander: float = 0.0) -> np.ndarray:
    base = np.broadcast_to(np.asarray(level, dtype=float), (n,))
    out = base + noise * rng.standard_normal(n)
    if wander:
        out = out + _wander(rng, n, wander)
    return out


def _lognormal(rng: np.random.Generator, median: float, sigma: float) -> float:
    return float(median * math.exp(sigma * rng.standard_normal()))


def _season(start: datetime) -> float:
    """+1 in mid winter, -1 in mid summer: wetter, dirtier post-consumer feed in winter."""
    return math.cos(2 * math.pi * (start.timetuple().tm_yday - 15) / 365.25)


def _bad_batch(rng: np.random.Generator, probability: float = 0.08) -> float:
    """Factor on the feed's contamination: now and then a badly sorted batch (x3 to x6)."""
    return float(rng.uniform(3, 6)) if rng.random() < probability else 1.0


def _upset(rng: np.random.Generator, t: np.ndarray, probability: float) -> np.ndarray:
    """0/1 mask of a process upset (heater fault, blocked feed) over part of the window."""
    mask = np.zeros_like(t)
    if rng.random() < probability:
        duration = t[-1] if len(t) else 0.0
        a = rng.uniform(0.1, 0.6) * duration
        mask[(t >= a) & (t < a + rng.uniform(0.15, 0.35) * duration)] = 1.0
    return mask


class ProcessModel:
    """One installation kind. Subclasses define materials, hidden factors, sensors, properties."""

    materials: tuple[tuple[str, float], ...] = ()  # (material, share of lots)
    post_consumer_share = 0.7

    def hidden(self, rng: np.random.Generator, material: str, post_consumer: bool, season: float) -> dict[str, float]:
        raise NotImplementedError

    def run(self, rng: np.random.Generator, material: str, h: Mapping[str, float], t: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        raise NotImplementedError

    def source(self, material: str, post_consumer: bool) -> str:
        stream = "post-consumer" if post_consumer else "post-industrial"
        return f"{SIMULATED} {stream} {material} feed"


class PolyolefinExtrusion(ProcessModel):
    """ntk-ext1: regranulation of PP, PE and PO-mix with melt filter and vacuum degassing.

    Cause and effect (hidden -> observed -> property):

    * contamination c (wt %, mostly non-melting) -> screen clogs at a rate ~ c * throughput:
      melt pressure before the screen rises over the window while the pressure after it does
      not -> filter pressure value and ash rise with c; Charpy and elongation fall with c
      (particles act as crack starters).
    * feed moisture -> residual moisture after vacuum degassing (worse vacuum = more) ->
      inline melt moisture sensor and lab moisture.
    * melt temperature (set-point + shear heating) x screw speed x residence time (~1/throughput)
      -> PP chain scission: ln(MFR) rises; PE crosslinks slightly: ln(MFR) falls. Higher MFR
      = lower viscosity = lower die pressure (melt pressure after the screen) and motor load.
    * PE in PP (post-consumer sorting impurity) -> lower Charpy, modulus, elongation; slightly
      lower Tm; higher density.
    * yellowing (colour b*) rises with thermal dose; L* falls with contamination.
    """

    materials = (("pp", 0.5), ("pe-hd", 0.25), ("pe-ld", 0.1), ("po-mix", 0.15))
    _mfr_median = {"pp": 11.0, "pe-hd": 0.55, "pe-ld": 0.9, "po-mix": 5.0}
    _density = {"pp": 0.903, "pe-hd": 0.955, "pe-ld": 0.921, "po-mix": 0.918}
    _modulus = {"pp": 1450.0, "pe-hd": 1090.0, "pe-ld": 230.0, "po-mix": 900.0}
    _strength = {"pp": 31.0, "pe-hd": 25.0, "pe-ld": 12.0, "po-mix": 19.0}
    _elongation = {"pp": 260.0, "pe-hd": 500.0, "pe-ld": 450.0, "po-mix": 120.0}
    _charpy = {"pp": 7.5, "pe-hd": 10.5, "pe-ld": 40.0, "po-mix": 6.0}
    _tm = {"pp": 163.5, "pe-hd": 131.0, "pe-ld": 110.0, "po-mix": 128.0}
    _lightness = {"pp": 74.5, "pe-hd": 79.0, "pe-ld": 76.0, "po-mix": 71.0}

    def hidden(self, rng, material, post_consumer, season):
        pp_like = material in ("pp", "po-mix")
        pe_in_pp = 0.0
        if material == "pp":
            pe_in_pp = float(np.clip(rng.gamma(2.0, 2.4) if post_consumer else rng.gamma(1.5, 0.4), 0, 30))
        return {
            "melt_setpoint": rng.uniform(205, 255) if pp_like else rng.uniform(195, 245),
            "screw_speed": rng.uniform(170, 390),
            "throughput": rng.uniform(170, 380),
            "vacuum": _lognormal(rng, 35, 0.3) if rng.random() > 0.1 else rng.uniform(100, 190),
            "feed_moisture": _lognormal(rng, 0.55 * (1 + 0.3 * season), 0.55) if post_consumer else _lognormal(rng, 0.08, 0.4),
            "contamination": _bad_batch(rng) * (_lognormal(rng, 0.45 * (1 + 0.15 * season), 0.7) if post_consumer else _lognormal(rng, 0.07, 0.5)),
            "pe_in_pp": pe_in_pp,
            "mfr_feed": _lognormal(rng, self._mfr_median[material] * (1.1 if post_consumer else 0.9), 0.12),
            "filler": rng.uniform(0.3, 1.5) if post_consumer else rng.uniform(0.0, 0.4),
            "screen_start": rng.uniform(0.0, 0.25),
            "toughness": _lognormal(rng, 1.0, 0.04),
        }

    def run(self, rng, material, h, t):
        n = len(t)
        hours = t / 3600.0
        upset = _upset(rng, t, 0.06)
        # Shear heating: melt runs hotter than the set-point with screw speed; an upset is a
        # zone heater controller overshoot.
        melt_temp = h["melt_setpoint"] + 0.05 * (h["screw_speed"] - 250) + 22 * upset + _wander(rng, n, 1.5)
        residence_min = 1.6 * 250 / h["throughput"]
        sme = h["screw_speed"] / h["throughput"]  # specific energy proxy (rpm per kg/h)
        dose = math.exp((float(np.mean(melt_temp)) - 230) / 28) * (sme / 1.0) ** 0.5 * (residence_min / 1.6) ** 0.5
        x_pe = h["pe_in_pp"]
        ln_mfr = math.log(h["mfr_feed"])
        if material == "pp":
            ln_mfr = (1 - x_pe / 100) * ln_mfr + (x_pe / 100) * math.log(0.8) + 0.32 * dose
        elif material == "po-mix":
            ln_mfr += 0.12 * dose
        else:
            ln_mfr -= 0.07 * dose
        mfr = math.exp(ln_mfr)
        # Die pressure ~ melt viscosity x throughput^0.4 (shear thinning); viscosity ~ MFR^-0.75.
        viscosity = (mfr / self._mfr_median[material]) ** -0.75 * np.exp(-(melt_temp - 230) / 60)
        p_out = 95 * (h["throughput"] / 275) ** 0.4 * viscosity
        clog = h["screen_start"] + 0.0042 * h["contamination"] * h["throughput"] * hours
        dp = 12 + 90 * clog
        residual_moisture = h["feed_moisture"] * min(1.0, 0.003 * h["vacuum"] ** 0.85) * (1 + 0.5 * upset.mean())
        c = h["contamination"]
        series = {
            "zone1_temp_c": _sensor(rng, h["melt_setpoint"] - 45, n, 0.6, 0.8),
            "zone2_temp_c": _sensor(rng, h["melt_setpoint"] - 22, n, 0.6, 0.8),
            "zone3_temp_c": _sensor(rng, h["melt_setpoint"] - 6 + 18 * upset, n, 0.6, 0.8),
            "melt_temp_c": melt_temp + rng.standard_normal(n) * 0.8,
            "melt_pressure_out_bar": _sensor(rng, p_out, n, 1.5, 2.0),
            "melt_pressure_in_bar": _sensor(rng, p_out + dp, n, 1.5, 2.0),
            "screw_speed_rpm": _sensor(rng, h["screw_speed"], n, 1.0),
            "motor_load_pct": _sensor(rng, 22 + 0.12 * h["throughput"] * viscosity ** 0.6 + 0.06 * (h["screw_speed"] - 250) + 0.25 * x_pe, n, 1.2, 1.0),
            "throughput_kg_h": _sensor(rng, h["throughput"], n, 4.0, 3.0),
            "vacuum_mbar": _sensor(rng, h["vacuum"], n, 2.0, 4.0),
            "melt_moisture_ppm": np.abs(_sensor(rng, residual_moisture * 10_000, n, 15.0, 0.12 * residual_moisture * 10_000)),
        }
        filler = h["filler"]
        fpv = 0.15 + 1.1 * c * (1 + 0.5 * float(np.mean(clog)))  # cake on a clogged screen forces fines through
        props = {
            "mfr": mfr,
            "density": self._density[material] + 0.0065 * filler + (0.045 * x_pe / 100 if material == "pp" else 0.0),
            "ash": 0.55 * filler + 0.28 * c,
            "moisture": 0.01 + residual_moisture,
            "tensile_modulus": self._modulus[material] * (1 - 0.011 * x_pe) * (1 + 0.02 * filler),
            "tensile_strength": self._strength[material] * (1 - 0.006 * x_pe) * (1 - 0.05 * c),
            "elongation_at_break": self._elongation[material] * math.exp(-0.45 * c) * (1 - 0.025 * x_pe),
            "charpy_notched": self._charpy[material] * h["toughness"] * (1 - 0.032 * x_pe) * (mfr / self._mfr_median[material]) ** -0.25 * (1 - 0.09 * c),
            "dsc_tm": self._tm[material] - 0.06 * x_pe,
            "filter_pressure_value": fpv,
            "colour_l": self._lightness[material] - 3.2 * c - 0.04 * (float(np.mean(melt_temp)) - 230),
            "colour_a": -0.5 + 0.3 * c,
            "colour_b": 2.5 + 1.6 * (dose - 1) + 0.4 * c,
        }
        if material == "pp":
            props["pe_in_pp"] = x_pe
        return series, props


class PetExtrusion(ProcessModel):
    """ntk-ext2: PET regranulation with a desiccant dryer and vacuum degassing.

    * dryer dew point (worse = higher) and flake moisture -> moisture reaching the melt ->
      inline melt moisture sensor -> hydrolysis lowers IV: dIV ~ -k * ppm * exp((T-280)/25)
      * residence; thermal degradation lowers IV a little more at high melt temperature.
    * lower IV = lower melt viscosity = lower die pressure (observable).
    * contamination (PVC, paper, glue) -> screen clogging (pressure drop rising), filter
      pressure value, ash; PVC and heat yellow the product (b* up) and darken it (L* down).
    """

    materials = (("pet", 1.0),)
    post_consumer_share = 0.8

    def hidden(self, rng, material, post_consumer, season):
        return {
            "melt_setpoint": rng.uniform(268, 292),
            "screw_speed": rng.uniform(150, 350),
            "throughput": rng.uniform(150, 350),
            "dewpoint": rng.uniform(-62, -38) if rng.random() > 0.15 else rng.uniform(-35, -15),
            "flake_moisture": _lognormal(rng, 0.45 * (1 + 0.3 * season), 0.4),
            "iv_feed": rng.normal(0.825 if post_consumer else 0.835, 0.008),
            "contamination": _bad_batch(rng) * (_lognormal(rng, 0.25 * (1 + 0.15 * season), 0.7) if post_consumer else _lognormal(rng, 0.04, 0.5)),
            "screen_start": rng.uniform(0.0, 0.25),
            "comonomer": rng.uniform(1.0, 3.0),
        }

    def run(self, rng, material, h, t):
        n = len(t)
        hours = t / 3600.0
        upset = _upset(rng, t, 0.05)
        melt_temp = h["melt_setpoint"] + 0.04 * (h["screw_speed"] - 250) + 15 * upset + _wander(rng, n, 1.2)
        residence = 250 / h["throughput"]
        # Residual water after the dryer: an equilibrium with the dew point (roughly a decade
        # per 20 K) times what the flakes brought in.
        melt_ppm = 30 * 10 ** ((h["dewpoint"] + 50) / 30) * (h["flake_moisture"] / 0.45) ** 0.5 * (1 + 0.5 * upset)
        ppm_mean = float(np.mean(melt_ppm))
        t_mean = float(np.mean(melt_temp))
        iv = h["iv_feed"] - 0.00045 * ppm_mean * math.exp((t_mean - 280) / 25) * residence ** 0.7 - 0.0009 * max(t_mean - 275, 0) * residence
        viscosity = (iv / 0.75) ** 3.4 * np.exp(-(melt_temp - 280) / 45)
        p_out = 80 * (h["throughput"] / 250) ** 0.5 * viscosity
        c = h["contamination"]
        clog = h["screen_start"] + 0.006 * c * h["throughput"] * hours
        dp = 15 + 95 * clog
        series = {
            "melt_temp_c": melt_temp + rng.standard_normal(n) * 0.7,
            "melt_pressure_out_bar": _sensor(rng, p_out, n, 1.5, 1.5),
            "melt_pressure_in_bar": _sensor(rng, p_out + dp, n, 1.5, 1.5),
            "screw_speed_rpm": _sensor(rng, h["screw_speed"], n, 1.0),
            "throughput_kg_h": _sensor(rng, h["throughput"], n, 3.0, 3.0),
            "dryer_dewpoint_c": _sensor(rng, h["dewpoint"], n, 0.8, 1.5),
            "melt_moisture_ppm": np.abs(_sensor(rng, melt_ppm, n, 4.0, 0.1 * ppm_mean)),
        }
        dose = math.exp((t_mean - 280) / 20) * residence
        props = {
            "intrinsic_viscosity": iv,
            "moisture": 0.005 + ppm_mean / 10_000 * 0.5,
            "filter_pressure_value": 0.1 + 1.4 * c * (1 + 0.5 * float(np.mean(clog))),
            "ash": 0.02 + 0.2 * c,
            "dsc_tm": 253.0 - 1.6 * h["comonomer"] - 0.5 * max(dose - 1, 0),
            "density": 1.335 + 0.002 * rng.standard_normal(),
            "colour_l": 78 - 6 * c - 1.2 * (dose - 1),
            "colour_a": -0.8 + 0.6 * c,
            "colour_b": 0.6 + 1.5 * (dose - 1) + 2.5 * c,
        }
        return series, props


class WashLine(ProcessModel):
    """ntk-wash1: hot caustic wash, friction washer, float-sink and thermal dryer for flakes.

    * dirt load d (organics, labels, glue; post-consumer >> post-industrial) -> dissolved and
      suspended dirt raise the wash water conductivity (together with the NaOH dosing).
    * wash efficiency rises with water temperature and NaOH concentration and falls with
      throughput (shorter contact time): residual = d * exp(-k(T, NaOH, throughput)).
    * residual contamination -> ash, filter pressure value, lower L*, higher b*; throughput
      -> flake moisture after the dryer (shorter drying time).
    * polymer properties (MFR, density, modulus, IV, ...) are those of the sorted feed: the
      wash does not change them, so they scatter narrowly around the material's typical value.
    """

    materials = (("pe-hd", 0.4), ("pp", 0.3), ("pet", 0.3))
    _feed = {
        "pe-hd": {"mfr": 0.5, "density": 0.956, "tensile_modulus": 1120.0, "tensile_strength": 25.0, "charpy_notched": 11.0, "colour_l": 80.0},
        "pp": {"mfr": 12.0, "density": 0.905, "tensile_modulus": 1480.0, "charpy_notched": 6.0, "dsc_tm": 163.5, "pe_in_pp": 2.0, "colour_l": 75.0},
        "pet": {"intrinsic_viscosity": 0.815, "dsc_tm": 250.0, "colour_l": 78.0},
    }

    def hidden(self, rng, material, post_consumer, season):
        return {
            "water_temp": rng.uniform(62, 92) if rng.random() > 0.1 else rng.uniform(45, 60),
            "naoh": rng.uniform(0.6, 2.6),
            "throughput": rng.uniform(300, 900),
            "dirt": _bad_batch(rng) * (_lognormal(rng, 3.0 * (1 + 0.2 * season), 0.5) if post_consumer else _lognormal(rng, 0.6, 0.4)),
            "fresh_water": rng.uniform(0.8, 1.2),
            "feed_scatter": rng.standard_normal(),
        }

    def run(self, rng, material, h, t):
        n = len(t)
        upset = _upset(rng, t, 0.06)
        water_temp = h["water_temp"] - 15 * upset + _wander(rng, n, 1.0)
        k = 0.7 * math.exp((float(np.mean(water_temp)) - 75) / 25) * (h["naoh"] / 1.5) ** 0.5 * (600 / h["throughput"]) ** 0.6
        residual = h["dirt"] * math.exp(-k * 2.2)
        conductivity = 12 * h["naoh"] + 6 * h["dirt"] * h["throughput"] / 600 / h["fresh_water"]
        series = {
            "water_temp_c": water_temp + rng.standard_normal(n) * 0.5,
            "naoh_pct": _sensor(rng, h["naoh"], n, 0.04, 0.05),
            "conductivity_ms_cm": _sensor(rng, conductivity, n, 0.8, 1.5),
            "throughput_kg_h": _sensor(rng, h["throughput"], n, 8.0, 6.0),
        }
        props = {key: value * (1 + 0.01 * h["feed_scatter"]) for key, value in self._feed[material].items()}
        if "density" in props:
            props["density"] = self._feed[material]["density"] + 0.001 * h["feed_scatter"]
        props.update(
            ash=0.03 + 0.3 * residual,
            moisture=0.004 + 0.02 * (h["throughput"] / 600) ** 2 + 0.005 * residual,
            filter_pressure_value=0.1 + 0.9 * residual,
            colour_l=props["colour_l"] - 4.0 * residual,
            colour_a=-0.6 + 0.3 * residual,
            colour_b=0.5 + 1.2 * residual,
        )
        return series, props


class TearingLine(ProcessModel):
    """dctv-tear1: tearing/opening of post-consumer textile into fibres.

    * drum speed -> fibre length: each pass cuts fibres; mean length falls roughly
      exponentially with drum speed (and more with a high feed rate packing the drum).
    * the inline fibre length monitor sees the mean length with bias and noise.
    * the polyester share of the feed raises the drum motor load (PES is tougher to tear).
    * fabric (nonwoven/yarn) tensile strength made from the fibres rises with fibre length
      and with the polyester share.
    """

    materials = (("cotton", 0.4), ("polyester", 0.25), ("pes-co", 0.35))
    post_consumer_share = 0.85
    _input_length = {"cotton": 30.0, "polyester": 46.0, "pes-co": 38.0}

    def source(self, material, post_consumer):
        kind = "sorted post-consumer garments" if post_consumer else "post-industrial cutting waste"
        return f"{SIMULATED} {kind}, {material}"

    def hidden(self, rng, material, post_consumer, season):
        # Sorting by NIR (e.g. Fibersort) keeps the composition near nominal; the tails are
        # mis-sorted garments.
        pes = {
            "cotton": rng.gamma(1.2, 1.5),
            "polyester": 100 - rng.gamma(1.2, 1.5),
            "pes-co": rng.normal(65, 2.5),
        }[material]
        return {
            # A tenth of the lots run the drum hard (dense, stiff garments): short fibres.
            "drum_speed": rng.uniform(1000, 2300) if rng.random() > 0.1 else rng.uniform(2400, 3000),
            "feed_rate": rng.uniform(200, 900),
            "input_length": _lognormal(rng, self._input_length[material] * (1.0 if post_consumer else 1.15), 0.06),
            "pes_share": float(np.clip(pes, 0, 100)),
            "elastane": rng.uniform(0.0, 1.5),
        }

    def run(self, rng, material, h, t):
        n = len(t)
        upset = _upset(rng, t, 0.05)
        drum = h["drum_speed"] + 250 * upset + _wander(rng, n, 15)
        length = h["input_length"] * np.exp(-0.00065 * (drum - 1000)) * (1 - 0.00018 * (h["feed_rate"] - 500))
        mean_length = float(np.mean(length))
        pes = h["pes_share"]
        series = {
            "drum_speed_rpm": drum + rng.standard_normal(n) * 5,
            "feed_rate_kg_h": _sensor(rng, h["feed_rate"], n, 10.0, 12.0),
            "fibre_length_mm": _sensor(rng, length * 0.95, n, 1.5, 0.8),
            "motor_load_pct": _sensor(rng, 35 + 0.04 * h["feed_rate"] + 0.012 * (drum - 1000) + 0.12 * pes, n, 1.5, 1.0),
        }
        props = {
            "mean_fibre_length": mean_length,
            "polyester_content": pes,
            "cotton_content": max(100 - pes - h["elastane"], 0.0),
            "fabric_tensile_strength": 200 * (mean_length / 20) ** 1.2 * (1 + 0.012 * pes),
        }
        return series, props


class GlycolysisReactor(ProcessModel):
    """dctv-chem1: glycolysis of polyester textile to BHET, repolymerised and spun to fibre.

    * depolymerisation dose = k(T) * residence with k Arrhenius-like (doubling per ~12 K);
      conversion = 1 - exp(-dose); incomplete conversion leaves oligomers -> lower IV and
      a less pure polyester.
    * severity beyond complete conversion forms DEG and coloured side products: lower Tm,
      yellower (b* up), slightly lower IV.
    * feed impurities (cotton, elastane, dyes) raise the reactor pressure (volatiles) and
      lower L*, IV and purity.
    * the fibre spun from the rPES: lower IV = more breaks (shorter mean length) and a weaker
      fabric (tensile strength ~ IV^3).
    """

    materials = (("polyester", 1.0),)
    post_consumer_share = 0.9

    def source(self, material, post_consumer):
        kind = "post-consumer polyester textile" if post_consumer else "post-industrial polyester offcuts"
        return f"{SIMULATED} {kind} (glycolysis feed), product recycled {material} fibre"

    def hidden(self, rng, material, post_consumer, season):
        return {
            "temp": rng.uniform(185, 232),
            "residence": rng.uniform(40, 300),
            "impurity": _bad_batch(rng) * (_lognormal(rng, 2.0, 0.5) if post_consumer else _lognormal(rng, 0.6, 0.4)),
        }

    def run(self, rng, material, h, t):
        n = len(t)
        upset = _upset(rng, t, 0.05)
        temp = h["temp"] + 12 * upset + _wander(rng, n, 1.0)
        t_mean = float(np.mean(temp))
        dose = 0.012 * 2 ** ((t_mean - 200) / 12) * h["residence"]
        conversion = 1 - math.exp(-dose)
        severity = math.log1p(max(dose - 4.0, 0.0))
        imp = h["impurity"]
        series = {
            "reactor_temp_c": temp + rng.standard_normal(n) * 0.5,
            "reactor_pressure_bar": _sensor(rng, 1.5 + 0.02 * (temp - 200) + 0.35 * imp, n, 0.08, 0.1),
            "residence_time_min": _sensor(rng, h["residence"], n, 2.0, 3.0),
        }
        iv = 0.52 + 0.32 * conversion - 0.025 * severity - 0.006 * imp
        props = {
            "intrinsic_viscosity": iv,
            "polyester_content": 99.8 - 0.8 * imp - 6.0 * (1 - conversion),
            "mean_fibre_length": 38.0 * min(1.0, iv / 0.80) ** 4,
            "fabric_tensile_strength": 700 * (iv / 0.78) ** 3 - 20 * severity,
            "moisture": 0.008 + 0.002 * imp,
            "dsc_tm": 252 - 2.5 * severity - 0.3 * imp,
            "colour_l": 88 - 1.5 * imp - 1.2 * severity,
            "colour_a": -0.4 + 0.1 * imp,
            "colour_b": 0.6 + 1.3 * severity + 0.2 * imp,
        }
        return series, props


MODELS_BY_KIND: dict[str, type[ProcessModel]] = {
    "extrusion-po": PolyolefinExtrusion,
    "extrusion-pet": PetExtrusion,
    "wash": WashLine,
    "tearing": TearingLine,
    "chemical": GlycolysisReactor,
}
# The registry's kind "extrusion" covers both extruders; which polymer they run is plant
# knowledge, so the two are told apart here by installation key.
MODEL_FOR_INSTALLATION: dict[str, type[ProcessModel]] = {
    "ntk-ext1": PolyolefinExtrusion,
    "ntk-ext2": PetExtrusion,
    "ntk-wash1": WashLine,
    "dctv-tear1": TearingLine,
    "dctv-chem1": GlycolysisReactor,
}


def model_for(installation: str, kind: str) -> ProcessModel:
    cls = MODEL_FOR_INSTALLATION.get(installation)
    if cls is None:
        cls = MODELS_BY_KIND.get(kind)
    if cls is None:
        raise ValueError(f"no process model for installation {installation!r} (kind {kind!r})")
    return cls()


@dataclass(frozen=True)
class Excursion:
    """A SIMULATED process excursion, so a demo shows an alarm: in the first lot the plant
    runs, the first sensor with a high alarm limit goes beyond it from ``after`` (seconds into
    the lot) for ``duration`` seconds, a tenth of the way from the limit to the range end."""

    after: float = 20.0
    duration: float = 60.0

    def apply(self, inst: Installation, t: np.ndarray, series: dict[str, np.ndarray]) -> bool:
        """Changes ``series`` in place; False when the installation has no sensor to trip."""
        sensor = next(
            (s for s in inst.sensors.values()
             if s.key in series and s.alarm_high is not None and s.alarm_high < s.max),
            None,
        )
        during = (t >= self.after) & (t < self.after + self.duration)
        if sensor is None or not during.any():
            return False
        high = sensor.alarm_high + 0.1 * (sensor.max - sensor.alarm_high)
        series[sensor.key] = np.where(during, high, series[sensor.key])
        return True


class PilotPlant:
    """Produces consecutive SIMULATED lots on each installation, reproducible from a seed."""

    def __init__(
        self,
        installations: Mapping[str, Installation],
        seed: int,
        start: datetime,
        lot_minutes: tuple[float, float] = (60.0, 150.0),
        gap_minutes: tuple[float, float] = (5.0, 30.0),
        running_start: bool = False,
        excursion: Excursion | None = None,
    ) -> None:
        """running_start: every installation is already producing at ``start`` (the first
        lot begins there), as a live dashboard expects; otherwise each waits an idle gap.
        excursion: one alarm-tripping excursion in the first lot that has room for it."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.rng = np.random.default_rng(seed)
        self.installations = dict(installations)
        self.models = {key: model_for(key, inst.kind) for key, inst in installations.items()}
        self.clock = {key: start.astimezone(UTC) for key in installations}
        self.counter = dict.fromkeys(installations, 0)
        self.lot_minutes = lot_minutes
        self.gap_minutes = gap_minutes
        self.running_start = running_start
        self.excursion = excursion
        # Seed and start in the lot code: a rerun from another start never reuses a code.
        self.prefix = f"SIM{seed}-{start.astimezone(UTC):%Y%m%d%H%M}"

    def plan(self, installation: str) -> LotPlan:
        model = self.models[installation]
        rng = self.rng
        names = [m for m, _ in model.materials]
        shares = np.array([s for _, s in model.materials])
        material = names[int(rng.choice(len(names), p=shares / shares.sum()))]
        post_consumer = bool(rng.random() < model.post_consumer_share)
        gap = float(rng.uniform(*self.gap_minutes))  # drawn always: the same seed, the same lots
        start = self.clock[installation] + timedelta(minutes=gap)
        start = start.replace(second=0, microsecond=0)
        if self.running_start and self.counter[installation] == 0:
            start = self.clock[installation]
        end = start + timedelta(minutes=round(float(rng.uniform(*self.lot_minutes))))
        self.clock[installation] = end
        self.counter[installation] += 1
        return LotPlan(
            lot_key=f"{self.prefix}-{installation}-{self.counter[installation]:06d}",
            installation=installation,
            material=material,
            input_stream="post-consumer" if post_consumer else "post-industrial",
            source=model.source(material, post_consumer),
            recycled_content=100.0 if rng.random() > 0.2 else float(round(rng.uniform(30, 95), 0)),
            start=start,
            end=end,
            hidden=model.hidden(rng, material, post_consumer, _season(start)),
        )

    def run(self, plan: LotPlan, step_s: float = 60.0) -> SimulatedLot:
        duration = (plan.end - plan.start).total_seconds()
        t = np.arange(0.0, duration, step_s)
        series, props = self.models[plan.installation].run(self.rng, plan.material, plan.hidden, t)
        # Real transmitters saturate at their range ends; the ingester would reject the rest.
        sensors = self.installations[plan.installation].sensors
        series = {k: np.clip(v, sensors[k].min, sensors[k].max) for k, v in series.items()}
        if self.excursion is not None and self.excursion.apply(
            self.installations[plan.installation], t, series
        ):
            self.excursion = None
        return SimulatedLot(plan=plan, t=t, series=series, properties=props)

    def lots(self, count: int, step_s: float = 60.0) -> Iterator[SimulatedLot]:
        """``count`` lots in production order, round robin over installations (by clock)."""
        for _ in range(count):
            installation = min(self.clock, key=lambda k: self.clock[k])
            yield self.run(self.plan(installation), step_s)
