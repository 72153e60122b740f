"""The collective, its demands and the figures it cites."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from campaign.core.db import UTCDateTime, utcnow
from campaign.extensions import db


class Collective(db.Model):
    """The coalition running the campaign (one per deployment)."""

    __tablename__ = "collectives"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tagline: Mapped[str] = mapped_column(String(300), default="")
    presentation: Mapped[str] = mapped_column(Text, default="")  # paragraphs split by blank lines
    coordinator: Mapped[str] = mapped_column(String(200), default="")  # coordinating organisation
    website: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(Text, default="")  # where the presentation is quoted from
    short_name: Mapped[str] = mapped_column(String(60), default="")  # « Les 400 000 »: tight spots
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    # [{"label": "Mastodon", "url": "https://…"}, …], in display order.
    social_links: Mapped[list[dict[str, str]]] = mapped_column(db.JSON, default=list)
    logo: Mapped[str | None] = mapped_column(String(100))  # file in <instance>/logos/, re-encoded
    # One brand colour (#rrggbb), checked for WCAG AA contrast with the white text it carries.
    brand_colour: Mapped[str] = mapped_column(
        String(7), default="#b3261e", server_default="#b3261e"
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )

    demands: Mapped[list[Demand]] = relationship(
        back_populates="collective", order_by="Demand.position", cascade="all, delete-orphan"
    )
    key_figures: Mapped[list[KeyFigure]] = relationship(
        back_populates="collective", order_by="KeyFigure.position", cascade="all, delete-orphan"
    )

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.presentation.split("\n\n") if p.strip()]

    @property
    def display_short_name(self) -> str:
        return self.short_name or self.name


class Demand(db.Model):
    """One of the collective's demands, shown in order."""

    __tablename__ = "demands"
    __table_args__ = (UniqueConstraint("collective_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collective_id: Mapped[int] = mapped_column(ForeignKey("collectives.id", ondelete="CASCADE"))
    position: Mapped[int]  # 1-based display order
    title: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)

    collective: Mapped[Collective] = relationship(back_populates="demands")


class KeyFigure(db.Model):
    """A figure the collective cites, always with its source."""

    __tablename__ = "key_figures"
    __table_args__ = (UniqueConstraint("collective_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    collective_id: Mapped[int] = mapped_column(ForeignKey("collectives.id", ondelete="CASCADE"))
    position: Mapped[int]
    value: Mapped[str] = mapped_column(String(40))  # as displayed: "400 000", "+ de 50"
    label: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(Text)  # document, body, year, page
    source_url: Mapped[str] = mapped_column(String(500), default="")

    collective: Mapped[Collective] = relationship(back_populates="key_figures")
