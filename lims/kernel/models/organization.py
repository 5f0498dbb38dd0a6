from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lims.kernel.clock import utcnow
from lims.kernel.db import Base

# The languages a certificate can be printed in (the pages have the same two).
LANGUAGES = ("en", "nl")


class Organization(Base):
    """The lab itself, a customer (manufacturer) or a supplier of recyclate."""

    __tablename__ = "organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # lab | customer | supplier
    kind: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(400), default="")
    # The language its certificates are printed in: "en" or "nl".
    language: Mapped[str] = mapped_column(String(5), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
