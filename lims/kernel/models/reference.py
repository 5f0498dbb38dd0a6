"""Reference data seeded from config/: programme lines, installations, materials, methods,
test plans and grade specifications."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lims.kernel.db import Base

# Enough digits for every method's range and decimals (IV 0.001 dl/g .. modulus 9999 MPa).
Amount = Numeric(18, 6)


def name_in(name: str, name_nl: str, language: str) -> str:
    """The Dutch name for a Dutch reader when there is one, else the English."""
    return name_nl if language == "nl" and name_nl else name


class NamedInDutch:
    """A reference row's English name and the Dutch one the pages show a Dutch reader."""

    name: Mapped[str] = mapped_column(String(200))
    # Empty when config/ gives none: the English name stands in.
    name_nl: Mapped[str] = mapped_column(String(200), default="", server_default="")

    def name_in(self, language: str) -> str:
        return name_in(self.name, self.name_nl, language)


class ProgrammeLine(NamedInDutch, Base):
    __tablename__ = "programme_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(20), unique=True)
    sample_prefix: Mapped[str] = mapped_column(String(10), unique=True)


class Installation(NamedInDutch, Base):
    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("programme_line.id"))
    kind: Mapped[str] = mapped_column(String(40))

    # Two lines in all: a lazy load is answered from the identity map after the first.
    line: Mapped[ProgrammeLine] = relationship()
    sensors: Mapped[list[Sensor]] = relationship(
        back_populates="installation", order_by="Sensor.id", cascade="all, delete-orphan"
    )


class Sensor(NamedInDutch, Base):
    __tablename__ = "sensor"
    __table_args__ = (UniqueConstraint("installation_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    installation_id: Mapped[int] = mapped_column(ForeignKey("installation.id"))
    key: Mapped[str] = mapped_column(String(60))
    unit: Mapped[str] = mapped_column(String(20))
    range_min: Mapped[float]
    range_max: Mapped[float]
    alarm_low: Mapped[float | None]
    alarm_high: Mapped[float | None]

    installation: Mapped[Installation] = relationship(back_populates="sensors")


class Material(NamedInDutch, Base):
    __tablename__ = "material"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    code: Mapped[str] = mapped_column(String(40))
    line_id: Mapped[int] = mapped_column(ForeignKey("programme_line.id"))

    # Two lines in all: a lazy load is answered from the identity map after the first.
    line: Mapped[ProgrammeLine] = relationship()
    test_plan: Mapped[list[TestPlanItem]] = relationship(
        order_by="TestPlanItem.position", cascade="all, delete-orphan"
    )


class Method(NamedInDutch, Base):
    __tablename__ = "method"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(60), unique=True)
    # The property a result of this method measures (mfr, density, ...): grade limits use it.
    property: Mapped[str] = mapped_column(String(60), index=True)
    standard: Mapped[str] = mapped_column(String(100))
    conditions: Mapped[str] = mapped_column(String(200), default="")
    # Empty when config/ gives none (conditions without words): the English stands in.
    conditions_nl: Mapped[str] = mapped_column(String(200), default="", server_default="")
    unit: Mapped[str] = mapped_column(String(20))
    decimals: Mapped[int]
    # Expanded uncertainty (k=2): absolute in the method's unit, or relative in % of the value.
    uncertainty_abs: Mapped[Decimal | None] = mapped_column(Amount)
    uncertainty_rel_pct: Mapped[Decimal | None] = mapped_column(Amount)
    detection_limit: Mapped[Decimal | None] = mapped_column(Amount)
    # A result outside [plausible_min, plausible_max] is an entry error, not a measurement.
    plausible_min: Mapped[Decimal | None] = mapped_column(Amount)
    plausible_max: Mapped[Decimal | None] = mapped_column(Amount)
    # Other units a result may be entered in: unit -> factor to the method's unit.
    conversions: Mapped[dict | None] = mapped_column(JSON)
    # standard | adapted | in-house (ISO/IEC 17025 7.2.1.1, 7.8.2.1 f: marked on the certificate)
    origin: Mapped[str] = mapped_column(String(20), default="standard")

    def conditions_in(self, language: str) -> str:
        return name_in(self.conditions, self.conditions_nl, language)


class TestPlanItem(Base):
    """One method a material is tested by, in the order the lab runs them."""

    __tablename__ = "test_plan_item"
    __table_args__ = (UniqueConstraint("material_id", "method_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"))
    method_id: Mapped[int] = mapped_column(ForeignKey("method.id"))
    position: Mapped[int]

    method: Mapped[Method] = relationship(lazy="joined", innerjoin=True)


class GradeSpec(Base):
    __tablename__ = "grade_spec"

    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("material.id"), unique=True)
    # simple | guard_band (ISO/IEC 17025 7.8.6, ILAC G8: the band is the expanded uncertainty)
    decision_rule: Mapped[str] = mapped_column(String(20))

    material: Mapped[Material] = relationship(lazy="joined", innerjoin=True)
    limits: Mapped[list[GradeLimit]] = relationship(
        order_by="(GradeLimit.rank, GradeLimit.property)", cascade="all, delete-orphan"
    )


class GradeLimit(Base):
    __tablename__ = "grade_limit"
    __table_args__ = (UniqueConstraint("grade_spec_id", "grade", "property"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grade_spec_id: Mapped[int] = mapped_column(ForeignKey("grade_spec.id"))
    grade: Mapped[str] = mapped_column(String(10))
    # 1 is the best grade.
    rank: Mapped[int]
    property: Mapped[str] = mapped_column(String(60))
    min: Mapped[Decimal | None] = mapped_column(Amount)
    max: Mapped[Decimal | None] = mapped_column(Amount)
