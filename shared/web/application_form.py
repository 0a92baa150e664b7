"""Reading an application from an HTML form, as a desk's page posts it: ``applicant.*``
inputs for the applicant (a person, or a company with its legal representative, and an
optional proxy), ``form.<key>`` for the item's own fields (the inputs
``forms/item_fields.html`` draws) and ``file.<material code>`` for scans. The values are
checked afterwards by :func:`shared.domain.application.check_application`, as the API's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.datastructures import FileStorage, MultiDict

from shared.domain.catalogue import ServiceItem
from shared.domain.composites import OneFormView
from shared.domain.errors import DomainError, InvalidInput
from shared.storage.scan_uploads import CheckedFile, check_upload, material_of

_PERSON = ("name", "id_number", "phone")


def applicant_from_form(values: Mapping[str, str]) -> dict[str, Any]:
    """The applicant as ``validate_applicant`` takes it, from ``applicant.*`` inputs."""
    kind = "company" if values.get("applicant.kind") == "company" else "person"

    def person(prefix: str) -> dict[str, str]:
        return {k: str(values.get(f"{prefix}.{k}", "")).strip() for k in _PERSON}

    applicant: dict[str, Any] = {"kind": kind}
    if kind == "company":
        applicant["name"] = str(values.get("applicant.name", "")).strip()
        applicant["uscc"] = str(values.get("applicant.uscc", "")).strip()
        applicant["legal_representative"] = person("applicant.legal_representative")
    else:
        applicant.update(person("applicant"))
    proxy = person("applicant.proxy")
    if any(proxy.values()):
        applicant["proxy"] = proxy
    return applicant


def form_from_form(item: ServiceItem, values: Mapping[str, str]) -> dict[str, str]:
    """The item's form fields from ``form.<key>`` inputs; blanks are left out."""
    found: dict[str, str] = {}
    for field in item.form.fields:
        value = str(values.get(f"form.{field.key}", ""))
        if value.strip():
            found[field.key] = value
    return found


def scans_from_form(item: ServiceItem | OneFormView, files: MultiDict[str, FileStorage],
                    errors: dict[str, str], allowed: set[str] | None = None
                    ) -> list[CheckedFile]:
    """The scans of ``file.<material code>`` inputs, each checked
    (:func:`shared.storage.scan_uploads.check_upload`); a bad one, one naming no material
    of the item, or one outside ``allowed`` (a supplement's missing materials) is named in
    ``errors`` (by its input) and left out. Inputs left empty are skipped."""
    checked: list[CheckedFile] = []
    for name, upload in files.items(multi=True):
        if not name.startswith("file.") or not upload.filename:
            continue
        try:
            code = name.removeprefix("file.")
            if allowed is not None and code not in allowed:
                raise InvalidInput(name, "this material was not asked for")
            material = material_of(item, code, name)
            checked.append(check_upload(material, upload.stream, name))
        except DomainError as exc:
            errors[name] = exc.reason
    return checked
