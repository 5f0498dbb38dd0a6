"""What analytics takes from the LIMS: methods, test plans and grade specifications.

Grades of simulated lots are computed exactly as the LIMS computes them: the value is
checked and rounded by the method (lims.samples.results.measure), turned into a grading
result with the method's expanded uncertainty, and graded by lims.samples.grading against
the material's specification loaded from the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.kernel.models import Material, Method
from lims.samples import grading, results


@dataclass(frozen=True)
class MaterialLab:
    material_id: int
    spec: grading.Spec | None
    methods: tuple[Method, ...]  # the test plan, in order


class LabCatalogue:
    """Test plans and specifications per material key, read once from the LIMS database."""

    def __init__(self, materials: Mapping[str, MaterialLab]) -> None:
        self.materials = dict(materials)

    @classmethod
    def load(cls, session: Session) -> LabCatalogue:
        out = {}
        for material in session.scalars(select(Material)):
            methods = tuple(item.method for item in material.test_plan)
            out[material.key] = MaterialLab(material.id, results.load_spec(session, material.id), methods)
        return cls(out)

    def lab_values(self, material: str, properties: Mapping[str, float], rng: np.random.Generator) -> dict[str, float]:
        """What the lab would report per method of the test plan: the true property plus a
        draw of the method's standard uncertainty (U / 2, k = 2)."""
        values = {}
        for method in self.materials[material].methods:
            true = properties.get(method.property)
            if true is None:
                continue
            if method.uncertainty_abs is not None:
                sd = float(method.uncertainty_abs) / 2
            else:
                sd = abs(true) * float(method.uncertainty_rel_pct or 0) / 200
            value = true + sd * float(rng.standard_normal())
            # Colour a*/b* may be negative; a content, length or MFR never is, and no
            # instrument reports past the physical bounds (a content above 100 %).
            if true >= 0:
                value = max(value, 0.0)
            if method.plausible_min is not None:
                value = max(value, float(method.plausible_min))
            if method.plausible_max is not None:
                value = min(value, float(method.plausible_max))
            values[method.key] = value
        return values

    def grade(self, material: str, values: Mapping[str, float]) -> str | None:
        """The LIMS grade for lab values keyed by method; None when the material has no spec."""
        lab = self.materials[material]
        if lab.spec is None:
            return None
        graded = {}
        for method in lab.methods:
            if method.key in values:
                measured = results.measure(method, f"{values[method.key]:.6f}", method.unit)
                graded[method.property] = results.as_result(method, measured)
        return grading.grade_sample(lab.spec, graded).grade

    def grades(self) -> dict[str, list[str]]:
        """Possible grades per material, best first, off-spec last."""
        return {
            key: [g.name for g in lab.spec.grades] + [grading.OFF_SPEC]
            for key, lab in self.materials.items()
            if lab.spec is not None
        }

    def acceptance(self) -> dict[str, list[list]]:
        """Per material the grades best first as [grade, {property: [low, high]}] (None = open):
        the lab values each grade accepts under the specification's decision rule, by the
        methods its limits apply to. What a model grades predicted lab values with."""
        out = {}
        for key, lab in self.materials.items():
            if lab.spec is None:
                continue
            methods = {}
            for m in lab.methods:
                if lab.spec.counts(m.property, m.key):
                    methods.setdefault(m.property, m)
            out[key] = [
                [g.name, {p: list(results.accepted_range(methods[p], lim, lab.spec.decision_rule)) for p, lim in g.limits.items()}]
                for g in lab.spec.grades
            ]
        return out

    def properties(self, material: str, values: Mapping[str, float]) -> dict[str, float]:
        """Lab values keyed by method, as values keyed by the property they measure."""
        lab = self.materials.get(material)
        if lab is None:
            return {}
        return {m.property: float(values[m.key]) for m in lab.methods if m.key in values}

    def limits(self) -> dict[str, list[list]]:
        """Per material the grades best first as [grade, {property: [min, max]}] (None = open),
        plain floats: what a model artifact keeps to say which limit a prediction is near."""
        def bound(x) -> float | None:
            return None if x is None else float(x)

        return {
            key: [[g.name, {p: [bound(lim.min), bound(lim.max)] for p, lim in g.limits.items()}] for g in lab.spec.grades]
            for key, lab in self.materials.items()
            if lab.spec is not None
        }
