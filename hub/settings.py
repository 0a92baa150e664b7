"""The hub's one typed, frozen settings object, stored as ``hub.json`` in its data directory.

``sanji hub init`` writes it; ``HubSettings.load`` reads it back, and ``SANJI_HUB_DATABASE_URL``
may point the hub at PostgreSQL in production and ``SANJI_HUB_TRUSTED_PROXIES`` say how many
proxies in front of it (nginx) are its own. Nothing else in the hub reads the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from shared.domain.errors import InvalidInput
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE, check_warning_share
from shared.domain.sites import validate_site_code

CONFIG_FILE = "hub.json"
DATABASE_FILE = "hub.sqlite"


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Everything a hub process needs to know about itself.

    ``catalogue_file`` is the catalogue the hub serves until releases are imported
    (``sanji hub import-catalog``); empty means the sample catalogue shipped with Sanji.
    """

    data_dir: Path
    site_code: str = "431000"
    site_name: str = "郴州市政务服务中心"
    database_url: str = ""
    catalogue_file: str = ""
    public_base_url: str = "http://127.0.0.1:8000"
    trusted_proxies: int = 0
    """How many proxies in front of the hub add ``X-Forwarded-For`` (1 behind the shipped
    nginx); 0 believes no such header: every client is the peer that connected."""
    session_idle_seconds: int = 30 * 60
    """A browser sign-in ends after this long without a request (see docs/security.md)."""
    session_max_seconds: int = 8 * 3600
    """A browser sign-in ends this long after it began, however busy."""
    warning_share: float = DEFAULT_WARNING_SHARE
    """The share of a case's promised time after which the supervision scan warns."""
    sms_gateway_url: str = ""
    """The SMS provider's HTTP endpoint (:mod:`shared.notify.sms_gateway`); empty: texts to
    citizens are written to the log. Its token is read from ``SANJI_HUB_SMS_TOKEN``."""
    testing: bool = False

    def __post_init__(self) -> None:
        validate_site_code(self.site_code, "site_code")
        check_warning_share(self.warning_share)
        if not 0 < self.session_idle_seconds <= self.session_max_seconds:
            raise InvalidInput("session_idle_seconds",
                               "must be above 0 and at most session_max_seconds")
        if not isinstance(self.trusted_proxies, int) or not 0 <= self.trusted_proxies <= 5:
            raise InvalidInput("trusted_proxies", "must be 0-5")
        if self.sms_gateway_url and not self.sms_gateway_url.startswith(("https://",
                                                                          "http://")):
            raise InvalidInput("sms_gateway_url", "must be an http(s) URL, or empty")
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.database_url:
            url = f"sqlite:///{Path(self.data_dir) / DATABASE_FILE}"
            object.__setattr__(self, "database_url", url)

    @property
    def key_dir(self) -> Path:
        """The hub's private signing key lives here (mode 0700)."""
        return self.data_dir / "keys"

    def to_file_dict(self) -> dict[str, object]:
        """What ``hub.json`` holds (not the data dir, not test flags, not the default URL)."""
        data = asdict(self)
        for key in ("data_dir", "testing"):
            data.pop(key)
        if data["database_url"] == f"sqlite:///{self.data_dir / DATABASE_FILE}":
            data.pop("database_url")
        return data

    def write(self) -> Path:
        """Store the settings as ``hub.json`` in the data directory."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / CONFIG_FILE
        path.write_text(json.dumps(self.to_file_dict(), ensure_ascii=False, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> HubSettings:
        """Settings from ``DATA_DIR/hub.json``, the database URL overridable by the env."""
        env = os.environ if environ is None else environ
        path = Path(data_dir) / CONFIG_FILE
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput("data_dir", f"{path} is missing: run 'sanji hub init' first")
        except (OSError, ValueError) as exc:
            raise InvalidInput("data_dir", f"cannot read {path}: {exc}")
        if not isinstance(stored, dict):
            raise InvalidInput("data_dir", f"{path} must hold a JSON object")
        settings = cls(data_dir=Path(data_dir), **stored)
        if "SANJI_HUB_DATABASE_URL" in env:
            settings = replace(settings, database_url=env["SANJI_HUB_DATABASE_URL"])
        if "SANJI_HUB_TRUSTED_PROXIES" in env:
            settings = replace(settings, trusted_proxies=_proxy_count(
                env["SANJI_HUB_TRUSTED_PROXIES"]))
        return settings


def _proxy_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise InvalidInput("trusted_proxies", "must be a whole number") from None
    if not 0 <= count <= 5:
        raise InvalidInput("trusted_proxies", "must be 0-5")
    return count
