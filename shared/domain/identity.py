"""Validators for what people type about who they are, and masks for showing it.

Every validator takes the raw value and the field name to blame, and returns the
normalised value or raises :class:`~shared.domain.errors.InvalidInput` with a reason a window
operator can act on. :func:`validate_applicant` checks a whole applicant (a natural
person or a company, with an optional proxy, 委托代理人) and reports every problem at
once as :class:`~shared.domain.errors.Problems`. Nothing here reads the clock: ``today`` is
passed in for the birth-date check.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.domain.errors import InvalidInput, Problems

# -- resident ID number (居民身份证号, GB 11643) -----------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"

PROVINCE_CODES: Mapping[str, str] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省",
    "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
    "83": "台湾地区（居住证）",
}  # fmt: skip
"""First two digits of an administrative division code (GB/T 2260), as ID numbers use them.

81, 82 and 83 begin the numbers on residence permits for Hong Kong, Macao and Taiwan
residents, which have the same 18-character form.
"""

EARLIEST_BIRTH_YEAR = 1900


def resident_id_check_char(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise InvalidInput("id_number", "the check character needs exactly 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def _as_text(value: object, field: str) -> str:
    if value is None:
        raise InvalidInput(field, "required")
    if not isinstance(value, str):
        raise InvalidInput(field, "must be text")
    return value


def _compact_code(value: object, field: str) -> str:
    """Full-width digits and letters to ASCII, spaces dropped, letters upper-cased."""
    text = unicodedata.normalize("NFKC", _as_text(value, field))
    text = "".join(text.split()).upper()
    if not text:
        raise InvalidInput(field, "required")
    return text


def validate_id_number(value: object, today: date, field: str = "id_number") -> str:
    """A resident ID number: 18 characters, GB 11643 checksum, a real past birth date.

    Returns it normalised (ASCII, no spaces, a final ``x`` as ``X``). The first two
    digits must be a province code; the rest of the area code is not checked, because
    numbers keep the code of the place and year they were issued in.
    """
    text = _compact_code(value, field)
    if len(text) == 15 and text.isdigit():
        raise InvalidInput(
            field,
            "15-digit first-generation numbers are no longer valid; enter the 18-character one",
        )
    if len(text) != 18:
        raise InvalidInput(field, f"must be 18 characters, not {len(text)}")
    if not (text[:17].isascii() and text[:17].isdigit()) or text[17] not in "0123456789X":
        raise InvalidInput(field, "must be 17 digits followed by a digit or X")
    if resident_id_check_char(text[:17]) != text[17]:
        raise InvalidInput(field, "checksum does not match")
    if text[:2] not in PROVINCE_CODES:
        raise InvalidInput(field, f"begins with {text[:2]}, which is not a province code")
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise InvalidInput(field, f"the birth date {text[6:14]} in the number is not a real date")
    if born > today:
        raise InvalidInput(
            field, f"the birth date {born.isoformat()} in the number is in the future"
        )
    if born.year < EARLIEST_BIRTH_YEAR:
        raise InvalidInput(field, f"the birth date {born.isoformat()} in the number is too early")
    return text


def id_birth_date(id_number: str) -> date:
    """The birth date written in a validated ID number."""
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


# -- unified social credit code (统一社会信用代码, GB 32100) --------------------------

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters of GB 32100 (no I, O, S, V, Z), in order of their values."""
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_USCC_AUTHORITIES = frozenset("123456789ANY")


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters (weights 3^i mod 31)."""
    if len(first17) != 17 or any(c not in USCC_CHARSET for c in first17):
        raise InvalidInput("uscc", "the check character needs 17 characters of the code set")
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def validate_uscc(value: object, field: str = "uscc") -> str:
    """A unified social credit code: 18 characters of the GB 32100 set, check character.

    Also checks the registering-authority character (1-9, A, N, Y), the organisation
    category (a digit) and the six-digit division code. Returns it upper-cased.
    """
    text = _compact_code(value, field)
    if len(text) != 18:
        raise InvalidInput(field, f"must be 18 characters, not {len(text)}")
    bad = sorted({c for c in text if c not in USCC_CHARSET})
    if bad:
        raise InvalidInput(
            field,
            f"contains {''.join(bad)}; "
            "the code uses digits and capital letters except I, O, S, V, Z",
        )
    if text[0] not in _USCC_AUTHORITIES:
        raise InvalidInput(field, f"{text[0]} is not a registering-authority code")
    if not text[1].isdigit() or text[1] == "0":
        raise InvalidInput(field, f"{text[1]} is not an organisation category code")
    if not text[2:8].isdigit():
        raise InvalidInput(field, "characters 3 to 8 must be an administrative division code")
    if uscc_check_char(text[:17]) != text[17]:
        raise InvalidInput(field, "checksum does not match")
    return text


# -- mobile phone -------------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9][0-9]{9}")


def validate_phone(value: object, field: str = "phone") -> str:
    """A mainland mobile number; returns its 11 digits.

    Spaces and hyphens are dropped and a +86 / 0086 country prefix is removed.
    Landlines are not accepted: the number receives text messages about the case.
    """
    text = unicodedata.normalize("NFKC", _as_text(value, field))
    text = re.sub(r"[\s\-()]", "", text)
    if not text:
        raise InvalidInput(field, "required")
    for prefix in ("+86", "0086"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    if not text.isascii() or not text.isdigit():
        raise InvalidInput(field, "must contain only digits (and an optional +86)")
    if len(text) != 11:
        raise InvalidInput(field, f"must be an 11-digit mobile number, not {len(text)} digits")
    if not _MOBILE.fullmatch(text):
        raise InvalidInput(field, "must be a mobile number beginning 13 to 19")
    return text


# -- names --------------------------------------------------------------------------

MIDDLE_DOT = "\u00b7"
DOT_LOOKALIKES = frozenset(
    "\u0387"  # GREEK ANO TELEIA
    "\u1427"  # CANADIAN SYLLABICS FINAL MIDDLE DOT
    "\u16eb"  # RUNIC SINGLE PUNCTUATION
    "\u2022"  # BULLET
    "\u2027"  # HYPHENATION POINT
    "\u2219"  # BULLET OPERATOR
    "\u22c5"  # DOT OPERATOR
    "\u2e31"  # WORD SEPARATOR MIDDLE DOT
    "\u30fb"  # KATAKANA MIDDLE DOT
    "\ua78f"  # LATIN LETTER SINOLOGICAL DOT
    "\uff65"  # HALFWIDTH KATAKANA MIDDLE DOT
)
"""Characters typed in place of the middle dot of minority and foreign names (U+00B7)."""

NAME_MAX_LENGTH = 64
ORGANISATION_NAME_MAX_LENGTH = 120

# Blocks of CJK ideographs in the BMP; planes 2 and 3 hold only ideographs (extension B
# and later, including extensions newer than this Python's Unicode tables).
_CJK_BMP = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_APOSTROPHES = {"\u2019": "'", "\u02bc": "'", "\uff07": "'"}
_HYPHENS = {"\u2010": "-", "\u2011": "-", "\uff0d": "-"}


def is_cjk_ideograph(ch: str) -> bool:
    """Whether ``ch`` is a CJK ideograph (any extension) or 〇."""
    cp = ord(ch)
    if 0x20000 <= cp <= 0x3FFFF:
        return (cp & 0xFFFF) < 0xFFFE  # not a noncharacter
    return cp == 0x3007 or any(lo <= cp <= hi for lo, hi in _CJK_BMP)


def _is_latin_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L") and unicodedata.name(ch, "").startswith(
        "LATIN "
    )


def _describe(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip()


def _refuse_invisible(text: str, field: str) -> None:
    """Control, formatting (zero-width, bidi), private-use and separator characters."""
    for ch in text:
        if is_cjk_ideograph(ch):
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc":
            raise InvalidInput(field, f"contains a control character ({_describe(ch)})")
        if cat == "Cf" or 0xFE00 <= ord(ch) <= 0xFE0F or 0xE0100 <= ord(ch) <= 0xE01EF:
            raise InvalidInput(field, f"contains an invisible character ({_describe(ch)})")
        if cat in {"Zl", "Zp"}:
            raise InvalidInput(field, f"contains a line break ({_describe(ch)})")
        if cat == "Co":
            raise InvalidInput(
                field,
                f"contains a private-use character ({_describe(ch)}); "
                "enter the character's standard Unicode form",
            )
        if cat in {"Cs", "Cn"}:
            raise InvalidInput(field, f"contains an unassigned character ({_describe(ch)})")


def _tidy_spaces(text: str) -> str:
    """Every kind of space becomes one ASCII space; none at the ends."""
    spaced = "".join(" " if unicodedata.category(c) == "Zs" else c for c in text)
    return " ".join(part for part in spaced.split(" ") if part)


def _fullwidth_letters_to_ascii(text: str) -> str:
    out = []
    for ch in text:
        cp = ord(ch)
        if 0xFF21 <= cp <= 0xFF3A or 0xFF41 <= cp <= 0xFF5A:
            ch = chr(cp - 0xFEE0)
        out.append(_APOSTROPHES.get(ch, _HYPHENS.get(ch, ch)))
    return "".join(out)


def _unify_dots(text: str) -> str:
    """Look-alikes become U+00B7; a full stop between two ideographs is one too."""
    chars = [MIDDLE_DOT if c in DOT_LOOKALIKES else c for c in text]
    for i, ch in enumerate(chars):
        if ch in ".\uff0e" and 0 < i < len(chars) - 1:
            before = next((c for c in reversed(chars[:i]) if c != " "), "")
            after = next((c for c in chars[i + 1 :] if c != " "), "")
            if before and after and is_cjk_ideograph(before) and is_cjk_ideograph(after):
                chars[i] = MIDDLE_DOT
    joined = "".join(chars)
    return re.sub(r" ?\u00b7 ?", MIDDLE_DOT, joined)


def _base_of(text: str, i: int) -> str:
    """The character a combining mark at ``i`` sits on (skipping other marks)."""
    while i > 0:
        i -= 1
        if unicodedata.category(text[i]) != "Mn":
            return text[i]
    return ""


def validate_name(value: object, field: str = "name", max_length: int = NAME_MAX_LENGTH) -> str:
    """A person's name: Chinese characters of any extension, or Latin letters.

    Normalised to NFC, spaces tidied, every middle-dot look-alike turned into U+00B7
    (阿依古丽·买买提). Spaces, hyphens and apostrophes may separate Latin name parts and
    a full stop may follow a Latin letter. Control, zero-width, bidi and private-use
    characters are refused rather than stripped, so what is stored is what was seen.
    """
    text = unicodedata.normalize("NFC", _as_text(value, field))
    _refuse_invisible(text, field)
    text = _tidy_spaces(_fullwidth_letters_to_ascii(text))
    text = _unify_dots(text)
    if not text:
        raise InvalidInput(field, "required")
    if len(text) > max_length:
        raise InvalidInput(field, f"is longer than {max_length} characters")
    if text[0] == MIDDLE_DOT or text[-1] == MIDDLE_DOT:
        raise InvalidInput(field, "must not begin or end with a middle dot")
    if MIDDLE_DOT * 2 in text:
        raise InvalidInput(field, "has two middle dots in a row")
    if text[0] in "-'.":
        raise InvalidInput(field, "must begin with a letter")
    if text[-1] in "-'":
        raise InvalidInput(field, "must end with a letter")
    for i, ch in enumerate(text):
        prev = text[i - 1] if i else ""
        if is_cjk_ideograph(ch) or _is_latin_letter(ch) or ch in {MIDDLE_DOT, " "}:
            continue
        if unicodedata.category(ch) == "Mn" and _is_latin_letter(_base_of(text, i) or "?"):
            continue
        if ch in "-'" and prev and _is_latin_letter(prev):
            continue
        if ch == "." and prev and _is_latin_letter(prev):
            continue
        if ch.isdigit():
            raise InvalidInput(field, "must not contain digits")
        raise InvalidInput(field, f"contains {ch!r} ({_describe(ch)}), which a name may not")
    return text


_ORGANISATION_PUNCTUATION = frozenset("()（）·-&.,'、 ")


def validate_organisation_name(
    value: object, field: str = "name", max_length: int = ORGANISATION_NAME_MAX_LENGTH
) -> str:
    """A company or organisation name as registered: letters, digits, brackets, dots."""
    text = unicodedata.normalize("NFC", _as_text(value, field))
    _refuse_invisible(text, field)
    text = _tidy_spaces(_fullwidth_letters_to_ascii(text))
    text = "".join(MIDDLE_DOT if c in DOT_LOOKALIKES else c for c in text)
    if not text:
        raise InvalidInput(field, "required")
    if len(text) < 2:
        raise InvalidInput(field, "is too short for a registered name")
    if len(text) > max_length:
        raise InvalidInput(field, f"is longer than {max_length} characters")
    for ch in text:
        ok = (
            is_cjk_ideograph(ch)
            or _is_latin_letter(ch)
            or (ch.isascii() and ch.isdigit())
            or ch in _ORGANISATION_PUNCTUATION
        )
        if not ok:
            raise InvalidInput(field, f"contains {ch!r} ({_describe(ch)}), which a name may not")
    return text


# -- masks for display --------------------------------------------------------------


def mask_id_number(id_number: str) -> str:
    """Area prefix and last four kept: ``4301**********1234``; short values fully masked."""
    if len(id_number) < 12:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """``138****5678``; anything not 11 characters long is fully masked."""
    if len(phone) != 11:
        return "*" * len(phone)
    return phone[:3] + "****" + phone[-4:]


def mask_name(name: str) -> str:
    """First character kept, every other letter starred, separators kept: 张*, 阿***·***."""
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "".join(c if c in {MIDDLE_DOT, " "} else "*" for c in name[1:])


# -- applicants ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """A natural person as identified by a resident ID card."""

    name: str
    id_number: str
    phone: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "id_number": self.id_number, "phone": self.phone}

    def masked(self) -> dict[str, str]:
        """The same fields for roles that may not see personal data."""
        return {
            "name": mask_name(self.name),
            "id_number": mask_id_number(self.id_number),
            "phone": mask_phone(self.phone),
        }


@dataclass(frozen=True, slots=True)
class Company:
    """A registered organisation and the person legally representing it."""

    name: str
    uscc: str
    legal_representative: Person

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "uscc": self.uscc,
            "legal_representative": self.legal_representative.to_dict(),
        }


Party = Person | Company


@dataclass(frozen=True, slots=True)
class Applicant:
    """Who applies: a person or a company, optionally represented by a proxy (委托代理人)."""

    party: Party
    proxy: Person | None = None

    @property
    def kind(self) -> Literal["person", "company"]:
        return "company" if isinstance(self.party, Company) else "person"

    @property
    def name(self) -> str:
        return self.party.name

    @property
    def contact_phone(self) -> str:
        """Where messages about the case go: the proxy if there is one."""
        if self.proxy is not None:
            return self.proxy.phone
        if isinstance(self.party, Company):
            return self.party.legal_representative.phone
        return self.party.phone

    def to_dict(self) -> dict[str, object]:
        """The input form again: ``validate_applicant(a.to_dict(), today) == a``."""
        out: dict[str, object] = {"kind": self.kind, **self.party.to_dict()}
        if self.proxy is not None:
            out["proxy"] = self.proxy.to_dict()
        return out

    def masked(self) -> dict[str, object]:
        """For roles that may not see personal data; a company's own name and code stay."""
        out: dict[str, object]
        if isinstance(self.party, Company):
            out = {
                "kind": "company",
                "name": self.party.name,
                "uscc": self.party.uscc,
                "legal_representative": self.party.legal_representative.masked(),
            }
        else:
            out = {"kind": "person", **self.party.masked()}
        if self.proxy is not None:
            out["proxy"] = self.proxy.masked()
        return out


_PERSON_KEYS = frozenset({"name", "id_number", "phone"})
_APPLICANT_PERSON_KEYS = _PERSON_KEYS | {"kind", "proxy"}
_APPLICANT_COMPANY_KEYS = frozenset({"kind", "name", "uscc", "legal_representative", "proxy"})


def _check(
    problems: dict[str, str], key: str, check: Callable[..., str], *args: object
) -> str | None:
    """Run one validator; record its reason under ``key`` instead of raising."""
    try:
        return check(*args)
    except InvalidInput as exc:
        problems[key] = exc.reason
        return None


def _person(data: object, prefix: str, today: date, problems: dict[str, str]) -> Person | None:
    if not isinstance(data, Mapping):
        problems[prefix] = "must be an object with name, id_number and phone"
        return None
    for key in sorted(set(data) - _PERSON_KEYS, key=str):
        problems[f"{prefix}.{key}"] = "unknown field"
    name = _check(problems, f"{prefix}.name", validate_name, data.get("name"))
    id_number = _check(
        problems, f"{prefix}.id_number", validate_id_number, data.get("id_number"), today
    )
    phone = _check(problems, f"{prefix}.phone", validate_phone, data.get("phone"))
    if name is None or id_number is None or phone is None:
        return None
    return Person(name, id_number, phone)


def validate_applicant(
    data: Mapping[str, object], today: date, prefix: str = "applicant"
) -> Applicant:
    """Check a whole applicant and report every problem at once.

    ``data`` is ``{"kind": "person", "name", "id_number", "phone", "proxy"?}`` or
    ``{"kind": "company", "name", "uscc", "legal_representative": {person}, "proxy"?}``
    (``kind`` defaults to ``person``). Raises :class:`Problems` keyed like
    ``applicant.id_number`` or ``applicant.proxy.phone``.
    """
    problems: dict[str, str] = {}
    if not isinstance(data, Mapping):
        raise Problems({prefix: "must be an object"}, "invalid applicant")
    kind = data.get("kind", "person")
    party: Party | None = None
    identity: str | None = None
    if kind == "person":
        for key in sorted(set(data) - _APPLICANT_PERSON_KEYS, key=str):
            problems[f"{prefix}.{key}"] = "unknown field"
        person_fields = {k: v for k, v in data.items() if k in _PERSON_KEYS}
        for key in _PERSON_KEYS - set(person_fields):
            person_fields[key] = None
        party = _person(person_fields, prefix, today, problems)
        identity = party.id_number if party else None
    elif kind == "company":
        for key in sorted(set(data) - _APPLICANT_COMPANY_KEYS, key=str):
            problems[f"{prefix}.{key}"] = "unknown field"
        name = _check(problems, f"{prefix}.name", validate_organisation_name, data.get("name"))
        uscc = _check(problems, f"{prefix}.uscc", validate_uscc, data.get("uscc"))
        rep_key = f"{prefix}.legal_representative"
        rep_data = data.get("legal_representative")
        rep = None
        if rep_data is None:
            problems[rep_key] = "required"
        else:
            rep = _person(rep_data, rep_key, today, problems)
        if name is not None and uscc is not None and rep is not None:
            party = Company(name, uscc, rep)
        identity = rep.id_number if rep else None
    else:
        problems[f"{prefix}.kind"] = "must be person or company"
    proxy: Person | None = None
    proxy_data = data.get("proxy")
    if proxy_data is not None:
        proxy = _person(proxy_data, f"{prefix}.proxy", today, problems)
        if proxy is not None and identity is not None and proxy.id_number == identity:
            problems[f"{prefix}.proxy.id_number"] = (
                "the proxy must be someone other than the applicant"
            )
    if problems or party is None:
        raise Problems(problems, "invalid applicant")
    return Applicant(party, proxy)
