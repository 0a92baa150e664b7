"""The one-form figures of a period report (一表制): for every composite, how many parents
were registered, how many are complete, and what the one form spared their applicants.

A parent counts in the period its parts were registered (they are registered together). Its
parts are the projection rows sharing its ``bundle_id``; it is complete when every part the
composite names is held here and closed. The fields and materials spared are the catalogue's
figures (:func:`shared.domain.composites.spared_figures`) times the parents registered.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.domain.catalogue import Catalogue
from shared.domain.composites import spared_figures

ONE_FORM_FIGURES = ("applications", "complete", "fields_spared", "materials_spared")


def one_form_figures(session: Session, model: ProjectionModel, catalogue: Catalogue,
                     from_ms: int, to_ms: int) -> list[dict[str, Any]]:
    """One row per composite of the catalogue, in catalogue order (zeros when none)."""
    m = model
    parents = (select(m.composite, m.bundle_id, func.count().label("parts"),
                      func.sum(m.open).label("open_parts"))
               .where(m.bundle_id.is_not(None), m.registered_ms >= from_ms,
                      m.registered_ms < to_ms)
               .group_by(m.composite, m.bundle_id))
    held: dict[str, list[tuple[int, int]]] = {}
    for code, _bundle, parts, open_parts in session.execute(parents):
        held.setdefault(str(code), []).append((int(parts), int(open_parts or 0)))
    rows = []
    for composite in catalogue.composites:
        spared = spared_figures(catalogue, composite)
        found = held.get(composite.code, [])
        complete = len([1 for parts, open_parts in found
                        if parts >= len(composite.parts) and open_parts == 0])
        rows.append({
            "composite": composite.code, "name": composite.name.zh,
            "applications": len(found), "complete": complete,
            "fields_separately": spared.fields_separately,
            "fields_one_form": spared.fields_one_form,
            "materials_separately": spared.materials_separately,
            "materials_one_form": spared.materials_one_form,
            "fields_spared": spared.fields_spared * len(found),
            "materials_spared": spared.materials_spared * len(found),
        })
    return rows
