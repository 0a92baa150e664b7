"""The service-item catalogue (事项目录): items, departments, windows and their authority.

The catalogue is authored at the city, published down the tree as a signed release and read
by every site. Objects here are immutable; build a catalogue with
:mod:`shared.domain.catalogue_loader`, which checks that it is consistent before handing it out, so
code that holds a :class:`Catalogue` may trust its cross references.
"""

from __future__ import annotations

import ast
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import TypedDict

from shared.domain.errors import InvalidInput, NotFound
from shared.domain.pinyin_keys import pinyin_keys


class DecidingTier(StrEnum):
    """Who decides an item. Villages only register, so they never appear here."""

    TOWNSHIP = "township"
    COUNTY = "county"
    CITY = "city"
    EXTERNAL = "external"  # a higher authority outside the tree (e.g. a provincial department)


class SiteTier(StrEnum):
    """The tier of site a window sits at; every site of that tier has the window."""

    TOWNSHIP = "township"
    COUNTY = "county"
    CITY = "city"


class Authority(StrEnum):
    """The level at which a window is authorised for an item (两集中、两到位)."""

    DECISION = "decision"  # 审批决定权: the window decides, 一审一核
    REVIEW_REPORT = "review_report"  # 审核上报权: the window reviews and sends up
    PRELIMINARY = "preliminary"  # 初审及组织办理权: the window organises, others inspect


class ItemKind(StrEnum):
    """The kind a case of the item starts as, fixed at acceptance.

    ``supplement`` and ``returned`` are outcomes a case may turn into later; they belong to
    the case model, not to the catalogue.
    """

    IMMEDIATE = "immediate"  # 即办件
    PROMISED = "promised"  # 承办件
    JOINT = "joint"  # 联办件
    REPORT_UP = "report_up"  # 上报件


class ItemType(StrEnum):
    """The national catalogue's type of power or service."""

    LICENSING = "licensing"  # 行政许可
    BENEFIT_PAYMENT = "benefit_payment"  # 行政给付
    CONFIRMATION = "confirmation"  # 行政确认
    RULING = "ruling"  # 行政裁决
    REWARD = "reward"  # 行政奖励
    OTHER_POWER = "other_power"  # 其他行政权力
    PUBLIC_SERVICE = "public_service"  # 公共服务


ITEM_TYPE_NAMES: Mapping[ItemType, tuple[str, str]] = {
    ItemType.LICENSING: ("行政许可", "administrative licensing"),
    ItemType.BENEFIT_PAYMENT: ("行政给付", "benefit payment"),
    ItemType.CONFIRMATION: ("行政确认", "administrative confirmation"),
    ItemType.RULING: ("行政裁决", "administrative ruling"),
    ItemType.REWARD: ("行政奖励", "administrative reward"),
    ItemType.OTHER_POWER: ("其他行政权力", "other administrative power"),
    ItemType.PUBLIC_SERVICE: ("公共服务", "public service"),
}


class FieldType(StrEnum):
    """The types a form field may have; each has its own coercion and checks."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    BOOLEAN = "boolean"
    ID_NUMBER = "id_number"  # resident ID number, GB 11643
    PHONE = "phone"  # mainland mobile number
    USCC = "uscc"  # unified social credit code, GB 32100


@dataclass(frozen=True, slots=True)
class Bilingual:
    """A text in Chinese (the default) and English."""

    zh: str
    en: str

    def get(self, lang: str = "zh") -> str:
        """The text in ``lang``; anything but ``en`` gets Chinese."""
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class Department:
    """A department with approval work concentrated in the centre (e.g. 民政局)."""

    code: str
    name: Bilingual


@dataclass(frozen=True, slots=True)
class WindowGrant:
    """One item a window is authorised for, and at which level."""

    item: str
    authority: Authority


@dataclass(frozen=True, slots=True)
class Window:
    """A department's window (窗口) as it exists at every site of ``site_tier``."""

    code: str
    name: Bilingual
    department: str
    site_tier: SiteTier
    grants: tuple[WindowGrant, ...] = ()

    def authority_for(self, item_code: str) -> Authority | None:
        """The window's authority for an item, or ``None`` when it holds none."""
        for grant in self.grants:
            if grant.item == item_code:
                return grant.authority
        return None


@dataclass(frozen=True, slots=True)
class Material:
    """A document the applicant hands in (申请材料), scanned at registration."""

    code: str
    name: Bilingual
    required: bool
    certificate_held: bool = False  # the certificate store may already hold it (免提交)
    max_bytes: int = 10 * 1024 * 1024
    often_missing: bool = False  # commonly the reason for a supplement request
    valid_days: int | None = None
    """How many days a copy received with a case may be reused by a later case of the same
    person (证照库, docs/certificates.md); None: only a ``certificate_held`` material's copy
    is kept, with no end, and any other is asked for each time."""

    @property
    def reusable(self) -> bool:
        """Whether a copy received with one case may stand for this material in a later one."""
        return self.certificate_held or self.valid_days is not None


@dataclass(frozen=True, slots=True)
class CertificateIssue:
    """The certificate an item's approval issues (e.g. a food business licence): recorded
    against the applicant in the certificate store, valid ``valid_years`` from the decision."""

    material: str
    valid_years: int


@dataclass(frozen=True, slots=True)
class Choice:
    """One allowed value of a ``choice`` field with its label."""

    value: str
    label: Bilingual


@dataclass(frozen=True, slots=True)
class FormField:
    """A typed field of an item's application form, with its validation rules.

    ``min_value``/``max_value``/``decimals`` apply to numbers, ``min_date``/``max_date``/
    ``not_future`` to dates, ``min_length``/``max_length``/``pattern`` to text.
    """

    key: str
    label: Bilingual
    type: FieldType
    required: bool = False
    choices: tuple[Choice, ...] = ()
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    decimals: int = 0
    min_date: date | None = None
    max_date: date | None = None
    not_future: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None

    def choice_values(self) -> tuple[str, ...]:
        """The values a ``choice`` field accepts, in catalogue order."""
        return tuple(choice.value for choice in self.choices)


@dataclass(frozen=True, slots=True)
class FormDefinition:
    """An item's application form: its fields in display order."""

    fields: tuple[FormField, ...] = ()

    def field(self, key: str) -> FormField | None:
        """The field named ``key``, or ``None``."""
        for form_field in self.fields:
            if form_field.key == key:
                return form_field
        return None


FormNumber = int | Decimal

_FORMULA_FUNCTIONS: Mapping[str, Callable[..., Decimal]] = {
    "min": lambda *args: min(args),
    "max": lambda *args: max(args),
    "ceil": lambda x: Decimal(math.ceil(x)),
    "floor": lambda x: Decimal(math.floor(x)),
}
_FORMULA_MAX_LENGTH = 200


@dataclass(frozen=True, slots=True)
class FeeFormula:
    """An arithmetic expression over number and boolean form fields giving an amount in fen.

    Allowed: numbers, field names, ``+ - * /``, parentheses, ``min``, ``max``, ``ceil`` and
    ``floor``. Nothing else is evaluated, so a catalogue can never run code at a site.
    """

    text: str
    names: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> FeeFormula:
        """Parse ``text``; raise :class:`InvalidInput` naming what is not allowed."""
        if len(text) > _FORMULA_MAX_LENGTH:
            raise InvalidInput("formula", f"longer than {_FORMULA_MAX_LENGTH} characters")
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise InvalidInput("formula", f"not an arithmetic expression: {exc.msg}")
        names: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if node.id not in _FORMULA_FUNCTIONS:
                    names.add(node.id)
            elif isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in _FORMULA_FUNCTIONS:
                    raise InvalidInput("formula", "only min, max, ceil and floor may be called")
                if node.keywords or not node.args:
                    raise InvalidInput("formula", "functions take positional arguments only")
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                    raise InvalidInput("formula", "only numeric constants are allowed")
            elif not isinstance(
                node,
                ast.Expression
                | ast.BinOp
                | ast.UnaryOp
                | ast.Load
                | ast.Add
                | ast.Sub
                | ast.Mult
                | ast.Div
                | ast.USub
                | ast.UAdd,
            ):
                raise InvalidInput("formula", f"{type(node).__name__} is not allowed")
        return cls(text=text, names=frozenset(names))

    def evaluate(self, values: Mapping[str, object]) -> int:
        """The amount in fen for the given form values, rounded half up."""
        tree = ast.parse(self.text, mode="eval")
        try:
            result = _eval_node(tree.body, values)
            amount = int(result.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        except (InvalidOperation, ZeroDivisionError) as exc:
            raise InvalidInput("fees", f"formula {self.text!r} cannot be computed: {exc!r}")
        if amount < 0:
            raise InvalidInput("fees", f"formula {self.text!r} gives a negative amount")
        return amount


def _eval_node(node: ast.expr, values: Mapping[str, object]) -> Decimal:
    if isinstance(node, ast.Constant):
        return Decimal(str(node.value))
    if isinstance(node, ast.Name):
        if node.id not in values:
            raise InvalidInput(f"form.{node.id}", "needed to compute the fee")
        value = values[node.id]
        if isinstance(value, bool):
            return Decimal(int(value))
        if isinstance(value, int | Decimal):
            return Decimal(value)
        raise InvalidInput(f"form.{node.id}", "must be a number to compute the fee")
    if isinstance(node, ast.UnaryOp):
        operand = _eval_node(node.operand, values)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _eval_node(node.left, values), _eval_node(node.right, values)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        return left / right
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_eval_node(arg, values) for arg in node.args]
        return _FORMULA_FUNCTIONS[node.func.id](*args)
    raise InvalidInput("formula", f"{type(node).__name__} is not allowed")


@dataclass(frozen=True, slots=True)
class FeeItem:
    """A fee (收费项目) with its legal basis and either a standard amount or a formula."""

    code: str
    name: Bilingual
    basis: str  # the document that fixes the fee (收费依据)
    amount_fen: int | None = None
    formula: FeeFormula | None = None
    reducible: bool = False
    """The basis allows the window to waive or reduce it (减免), with a written reason."""

    def amount(self, values: Mapping[str, object]) -> int:
        """The fee in fen for a validated form."""
        if self.formula is not None:
            return self.formula.evaluate(values)
        return self.amount_fen or 0


class CompetenceBy(StrEnum):
    """What fixes the area whose office is competent for a case (全城通办)."""

    REGISTERING_SITE = "registering_site"  # the registering station's own branch (default)
    RESIDENCE = "residence"  # 户籍地: the applicant's declared residence, else the ID number's
    PLACE = "place"  # a place the form names, e.g. the property's location


@dataclass(frozen=True, slots=True)
class Competence:
    """Who decides an item's case: ``field`` names the form field holding an area code
    (a declared residence for ``residence``, optional; the place for ``place``)."""

    by: CompetenceBy = CompetenceBy.REGISTERING_SITE
    field: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceItem:
    """One service item (事项) and everything the five publics (五公开) publish about it.

    ``co_approvers`` of a joint item lists every department that approves in parallel, the
    lead department included. ``legal_days`` and ``promised_days`` count working days.
    """

    code: str
    name: Bilingual
    type: ItemType
    department: str
    tier: DecidingTier
    window: str
    authority: Authority
    kind: ItemKind
    legal_days: int
    promised_days: int
    materials: tuple[Material, ...] = ()
    fees: tuple[FeeItem, ...] = ()
    form: FormDefinition = field(default_factory=FormDefinition)
    overdue_means_approval: bool = False  # 超时许可
    absence_means_consent: bool = False  # 缺席默许, joint items only
    co_approvers: tuple[str, ...] = ()
    external_authority: Bilingual | None = None
    refusal_grounds: tuple[Bilingual, ...] = ()
    pay_on_collection: bool = False
    """The fees may be paid when the result is collected: it is issued before they are."""
    issues: CertificateIssue | None = None
    """The certificate (a material code other items ask for) an approval issues."""
    competence: Competence = field(default_factory=Competence)
    """What fixes the competent area (全城通办): see :mod:`shared.domain.competence`."""

    @property
    def is_free(self) -> bool:
        """True when the item charges nothing (no fee items, or only zero amounts)."""
        return all(fee.formula is None and not fee.amount_fen for fee in self.fees)

    def material(self, code: str) -> Material | None:
        """The material named ``code``, or ``None``."""
        for material in self.materials:
            if material.code == code:
                return material
        return None

    def material_names(self, codes: Iterable[str], lang: str = "zh") -> list[str]:
        """The names of the materials ``codes`` in ``lang`` (a code the item does not list
        shows as itself)."""
        return [m.name.get(lang) if (m := self.material(code)) else code for code in codes]

    def fee_total(self, values: Mapping[str, object]) -> int:
        """The sum of every fee in fen for a validated form."""
        return sum(fee.amount(values) for fee in self.fees)


@dataclass(frozen=True, slots=True)
class Composite:
    """A "one thing" (一件事): several departments' items applied for on one form (一表制).

    Registration fans it out into one case per part, linked under a parent; a form field or
    material that several parts ask for is asked once (:mod:`shared.domain.composites`).
    """

    code: str
    name: Bilingual
    parts: tuple[str, ...]
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AdaptorQuestion:
    """One question of an adaptor's wizard, answered by picking one of its choices."""

    key: str
    label: Bilingual
    choices: tuple[Choice, ...]

    def choice_values(self) -> tuple[str, ...]:
        """The answers the question accepts, in catalogue order."""
        return tuple(choice.value for choice in self.choices)


@dataclass(frozen=True, slots=True)
class AdaptorRule:
    """One row of an adaptor's decision table: the answers it covers, the item they lead to
    and why. A question the rule does not name accepts any answer."""

    when: tuple[tuple[str, tuple[str, ...]], ...]
    item: str
    reason: Bilingual

    def covers(self, answers: Mapping[str, str]) -> bool:
        """Whether the rule applies to ``answers`` (one value per question)."""
        return all(answers.get(key) in values for key, values in self.when)


@dataclass(frozen=True, slots=True)
class Adaptor:
    """A family of related procedures with a decision table choosing one (智能适配).

    The loader proves the table complete and unambiguous: every combination of answers is
    covered by exactly one rule (:mod:`shared.domain.adaptors`).
    """

    code: str
    name: Bilingual
    questions: tuple[AdaptorQuestion, ...]
    rules: tuple[AdaptorRule, ...]
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalogue:
    """A released version of the catalogue for one region (e.g. 431000, 郴州市)."""

    version: int
    region_code: str
    region_name: Bilingual
    departments: tuple[Department, ...]
    windows: tuple[Window, ...]
    items: tuple[ServiceItem, ...]
    effective_from: date | None = None
    composites: tuple[Composite, ...] = ()
    adaptors: tuple[Adaptor, ...] = ()
    _items: dict[str, ServiceItem] = field(init=False, repr=False, compare=False)
    _windows: dict[str, Window] = field(init=False, repr=False, compare=False)
    _departments: dict[str, Department] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_items", {item.code: item for item in self.items})
        object.__setattr__(self, "_windows", {w.code: w for w in self.windows})
        object.__setattr__(self, "_departments", {d.code: d for d in self.departments})

    def item(self, code: str) -> ServiceItem:
        """The item ``code``; :class:`NotFound` when the catalogue has none."""
        try:
            return self._items[code]
        except KeyError:
            raise NotFound("item_code", f"no service item {code!r} in catalogue v{self.version}")

    def window(self, code: str) -> Window:
        """The window ``code``; :class:`NotFound` when the catalogue has none."""
        try:
            return self._windows[code]
        except KeyError:
            raise NotFound("window", f"no window {code!r} in catalogue v{self.version}")

    def department(self, code: str) -> Department:
        """The department ``code``; :class:`NotFound` when the catalogue has none."""
        try:
            return self._departments[code]
        except KeyError:
            raise NotFound("department", f"no department {code!r} in catalogue v{self.version}")

    def items_of_window(self, window_code: str) -> tuple[ServiceItem, ...]:
        """The items a window serves, in catalogue order."""
        return tuple(item for item in self.items if item.window == window_code)

    def composite(self, code: str) -> Composite:
        """The one-form entry ``code``; :class:`NotFound` when the catalogue has none."""
        for composite in self.composites:
            if composite.code == code:
                return composite
        raise NotFound("composite", f"no one-form entry {code!r} in catalogue v{self.version}")

    def adaptor(self, code: str) -> Adaptor:
        """The adaptor ``code``; :class:`NotFound` when the catalogue has none."""
        for adaptor in self.adaptors:
            if adaptor.code == code:
                return adaptor
        raise NotFound("adaptor", f"no adaptor {code!r} in catalogue v{self.version}")

    def windows_at(self, tier: SiteTier) -> tuple[Window, ...]:
        """The windows every site of ``tier`` has."""
        return tuple(window for window in self.windows if window.site_tier is tier)


# --- the API shape -------------------------------------------------------------------------


class MaterialApi(TypedDict):
    code: str
    name: str
    required: bool
    certificate_held: bool
    max_bytes: int
    valid_days: int | None


class IssuesApi(TypedDict):
    material: str
    valid_years: int


class ChoiceApi(TypedDict):
    value: str
    label: str


class FieldApi(TypedDict):
    key: str
    label: str
    type: str
    required: bool
    choices: list[ChoiceApi]
    rules: dict[str, int | float | str | bool]


class FormApi(TypedDict):
    fields: list[FieldApi]


class FeeApi(TypedDict):
    code: str
    name: str
    basis: str
    amount_fen: int | None
    formula: str | None
    reducible: bool


class ItemApi(TypedDict):
    """One item of ``GET /api/v1/catalog/items`` (contract keys first, then additions)."""

    code: str
    name: str
    tier: str
    window: str
    authority: str
    kind: str
    promised_days: int
    legal_days: int
    materials: list[MaterialApi]
    form: FormApi
    department: str
    type: str
    free: bool
    fees: list[FeeApi]
    overdue_means_approval: bool
    absence_means_consent: bool
    co_approvers: list[str]
    external_authority: str | None
    issues: IssuesApi | None


class CatalogueApi(TypedDict):
    version: int
    items: list[ItemApi]


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _field_api_dict(form_field: FormField, lang: str) -> FieldApi:
    rules: dict[str, int | float | str | bool] = {}
    if form_field.min_value is not None:
        rules["min"] = _json_number(form_field.min_value)
    if form_field.max_value is not None:
        rules["max"] = _json_number(form_field.max_value)
    if form_field.type is FieldType.NUMBER:
        rules["decimals"] = form_field.decimals
    if form_field.min_date is not None:
        rules["min"] = form_field.min_date.isoformat()
    if form_field.max_date is not None:
        rules["max"] = form_field.max_date.isoformat()
    if form_field.not_future:
        rules["not_future"] = True
    if form_field.min_length is not None:
        rules["min_length"] = form_field.min_length
    if form_field.max_length is not None:
        rules["max_length"] = form_field.max_length
    if form_field.pattern is not None:
        rules["pattern"] = form_field.pattern
    return {
        "key": form_field.key,
        "label": form_field.label.get(lang),
        "type": form_field.type.value,
        "required": form_field.required,
        "choices": [
            {"value": choice.value, "label": choice.label.get(lang)}
            for choice in form_field.choices
        ],
        "rules": rules,
    }


def _fee_api_dict(fee: FeeItem, lang: str) -> FeeApi:
    return {
        "code": fee.code,
        "name": fee.name.get(lang),
        "basis": fee.basis,
        "amount_fen": fee.amount_fen,
        "formula": fee.formula.text if fee.formula is not None else None,
        "reducible": fee.reducible,
    }


def item_api_dict(item: ServiceItem, lang: str = "zh") -> ItemApi:
    """One entry of ``GET /api/v1/catalog/items`` with texts in ``lang`` (``zh`` or ``en``).

    The contract's keys come first; ``department``, ``type``, ``fees``, the flags, the
    co-approvers, the external authority, the certificate the item ``issues`` and the
    per-material and per-field extras are additions a client may use.
    """
    return {
        "code": item.code,
        "name": item.name.get(lang),
        "tier": item.tier.value,
        "window": item.window,
        "authority": item.authority.value,
        "kind": item.kind.value,
        "promised_days": item.promised_days,
        "legal_days": item.legal_days,
        "materials": [
            {
                "code": material.code,
                "name": material.name.get(lang),
                "required": material.required,
                "certificate_held": material.certificate_held,
                "max_bytes": material.max_bytes,
                "valid_days": material.valid_days,
            }
            for material in item.materials
        ],
        "form": {"fields": [_field_api_dict(f, lang) for f in item.form.fields]},
        "department": item.department,
        "type": item.type.value,
        "free": item.is_free,
        "fees": [_fee_api_dict(fee, lang) for fee in item.fees],
        "overdue_means_approval": item.overdue_means_approval,
        "absence_means_consent": item.absence_means_consent,
        "co_approvers": list(item.co_approvers),
        "external_authority": (
            item.external_authority.get(lang) if item.external_authority is not None else None
        ),
        "issues": (
            {"material": item.issues.material, "valid_years": item.issues.valid_years}
            if item.issues is not None else None
        ),
    }


def catalogue_api_dict(catalogue: Catalogue, lang: str = "zh") -> CatalogueApi:
    """The whole body of ``GET /api/v1/catalog/items``."""
    return {
        "version": catalogue.version,
        "items": [item_api_dict(item, lang) for item in catalogue.items],
    }


# --- search --------------------------------------------------------------------------------


def _fold(text: str) -> str:
    # NFKC turns full-width letters and digits typed on Chinese keyboards into ASCII.
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _compact(text: str) -> str:
    return _fold(text).replace(" ", "")


def _search_rank(
    item: ServiceItem, spaced: str, compact: str, keys: Mapping[str, tuple[str, str]]
) -> int | None:
    code = item.code.casefold()
    bare_code = code.replace("-", "")
    if compact in (code, bare_code):
        return 0
    if code.startswith(compact) or bare_code.startswith(compact):
        return 1
    zh = _compact(item.name.zh)
    if zh.startswith(compact):
        return 2
    if compact in zh or spaced in _fold(item.name.en):
        return 3
    initials, full = keys[item.name.zh]
    if initials.startswith(compact):
        return 4
    if compact in initials:
        return 5
    if compact in full:
        return 6
    return None


def search_items(catalogue: Catalogue | Iterable[ServiceItem], query: str) -> list[ServiceItem]:
    """Items matching ``query`` by code, Chinese or English name, or pinyin, best first.

    Pinyin matches the initials of the Chinese name (``zdsh`` finds 最低生活保障) and the
    toneless syllables (``baozhang``), so an agent can type on a plain keyboard.
    Ranks: exact code, code prefix, name prefix, name substring, initials prefix, initials
    substring, full pinyin substring; ties keep catalogue order. An empty query matches all.
    """
    items = catalogue.items if isinstance(catalogue, Catalogue) else tuple(catalogue)
    spaced = _fold(query)
    if not spaced:
        return list(items)
    compact = spaced.replace(" ", "")
    keys = pinyin_keys(item.name.zh for item in items)
    ranked: list[tuple[int, int, ServiceItem]] = []
    for position, item in enumerate(items):
        rank = _search_rank(item, spaced, compact, keys)
        if rank is not None:
            ranked.append((rank, position, item))
    ranked.sort(key=lambda entry: (entry[0], entry[1]))
    return [item for _, _, item in ranked]
