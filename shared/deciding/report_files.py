"""The reports written on schedule: once a day, week, month or year has ended, its report is
kept under the site's data directory (``reports/<period>-<first day>.json|.pdf|.csv``),
each file written whole beside its place and renamed (a power cut leaves the old state or
the new, never half a file). The CSV is written last: its presence says the set is done, so
the next run skips it, and a run cut short writes the set again."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from shared.deciding.case_projection import ProjectionModel
from shared.deciding.supervision_reports import closed_periods, csv_text, report
from shared.domain.catalogue import Catalogue
from shared.pdf.fonts import PdfFonts
from shared.pdf.report_document import render_report
from shared.storage.private_files import replace_private

REPORTS_DIR = "reports"


def write_closed_reports(session_factory: Callable[[], Session], model: ProjectionModel,
                         catalogue: Catalogue,
                         site_code: str, site_name: str, data_dir: Path, now: datetime,
                         fonts: Callable[[], PdfFonts]) -> list[Path]:
    """Write the reports of the periods that ended and have none yet; the CSVs written."""
    directory = data_dir / REPORTS_DIR
    written = []
    for kind, day in closed_periods(now):
        stem = f"{kind}-{day.isoformat()}"
        done = directory / f"{stem}.csv"
        if done.exists():
            continue
        with session_factory() as session:
            body = report(session, model, site_code, kind, day, catalogue)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        replace_private(directory / f"{stem}.json",
                        json.dumps(body, ensure_ascii=False, indent=1).encode())
        replace_private(directory / f"{stem}.pdf", render_report(body, site_name, fonts()))
        replace_private(done, csv_text(body["rows"], body["consultations"]).encode())
        written.append(done)
    return written
