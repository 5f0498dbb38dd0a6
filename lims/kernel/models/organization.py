from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lims.kernel.clock import utcnow
from lims.kernel.db import Base

ORGANIZATION_KINDS = ("lab", "customer", "supplier", "provider")

# The languages a certificate can be printed in (the pages have the same two).
LANGUAGES = ("en", "nl")


class Organization(Base):
    """The lab itself, a customer (manufacturer), a supplier of recyclate, or an approved
    external provider (a subcontracted lab, ISO/IEC 17025 6.6) whose results the lab reports."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # lab | customer | supplier | provider
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(400), default="")
    # The language its certificates are printed in: "en" or "nl".
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
