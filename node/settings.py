"""The node's one typed, frozen settings object, read from the data directory and env vars.

``sanji node init`` writes ``node.json`` into the data directory; ``NodeSettings.load`` reads
it back and lets a few ``SANJI_NODE_*`` variables override it. Nothing else in the node reads
the environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from shared.domain.errors import InvalidInput
from shared.domain.live_deadline import DEFAULT_WARNING_SHARE, check_warning_share
from shared.domain.sites import Tier, parse_tier, validate_site_code

CONFIG_FILE = "node.json"
PARENT_CA_FILE = "parent-ca.pem"
"""Where ``sanji node init --parent-ca-file`` keeps its copy of the parent's TLS trust."""
TEST_FAULTS_ENV = "SANJI_TEST_FAULTS"
CLOCK_OFFSET_ENV = "SANJI_TEST_CLOCK_OFFSET_SECONDS"
"""With ``SANJI_TEST_FAULTS=1`` only: seconds the node's clock is set off by, as on a village
PC whose clock is hours wrong (the fault tests); ignored otherwise."""
DATABASE_FILE = "node.sqlite"
KEY_PROTECTIONS = ("password", "file")
"""Where the data key is kept: only in the agents' key slots (``password``) or in
``keys/data.key`` (``file``); see docs/security.md."""


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """Everything a node process needs to know about itself.

    ``public_base_url`` is printed into the receipt's QR code: the address citizens use to
    look a case up (the hub's public page once it exists; the node's own otherwise).
    ``database_url`` defaults to ``node.sqlite`` in the data directory.
    """

    data_dir: Path
    site_code: str
    site_name: str
    tier: Tier
    public_base_url: str = "http://127.0.0.1:8100"
    parent_url: str = ""  # where the sync job and enrolment relays go; empty: no parent yet
    parent_code: str = ""
    hub_code: str = ""
    database_url: str = ""
    id_reader: str = "none"  # "none" (type the applicant in) or "simulated" (the demo's)
    trusted_proxies: int = 0
    parent_ca_file: str = ""
    """A PEM file the parent's TLS certificate must chain to: the government CA's certificate,
    or the parent's own (self-signed) certificate to pin exactly that one. Relative to the
    data directory. Empty: the trust store of the Python environment (certifi)."""
    """How many proxies in front of the node add ``X-Forwarded-For``; 0 believes none."""
    status_max_failures: int = 10  # wrong pairs per address within the window before 429
    status_window_seconds: int = 600
    page_size: int = 50
    require_sign_in: bool = True  # once enrolled: every page and API call needs a user
    session_idle_seconds: int = 30 * 60
    """A browser sign-in ends after this long without a request (see docs/security.md)."""
    session_max_seconds: int = 8 * 3600
    """A browser sign-in ends this long after it began, however busy."""
    data_key_protection: str = ""
    """``password``: the data key lives only in key slots wrapped by the agents' passwords
    (a village's default: a powered-off PC reveals nothing, and after a restart the node
    stays locked until an agent signs in); ``file``: in ``keys/data.key`` (the default of a
    township or county, which relay for their children unattended). Empty: the tier's
    default."""
    warning_share: float = DEFAULT_WARNING_SHARE
    """At a deciding site: the share of a case's promised time after which it is warned."""
    testing: bool = False
    extra: Mapping[str, str] = field(default_factory=dict)
    clock_offset_seconds: float = 0.0
    """Test-only: what the PC's clock is off by (see :data:`TEST_FAULTS_ENV`); never stored."""

    def __post_init__(self) -> None:
        validate_site_code(self.site_code, "site_code")
        check_warning_share(self.warning_share)
        object.__setattr__(self, "tier", parse_tier(self.tier))
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if not self.database_url:
            url = f"sqlite:///{Path(self.data_dir) / DATABASE_FILE}"
            object.__setattr__(self, "database_url", url)
        if self.id_reader not in {"simulated", "none"}:
            raise InvalidInput("id_reader", "must be simulated or none")
        if not 0 <= self.trusted_proxies <= 5:
            raise InvalidInput("trusted_proxies", "must be 0-5")
        if not self.data_key_protection:
            default = "password" if self.tier is Tier.VILLAGE else "file"
            object.__setattr__(self, "data_key_protection", default)
        if self.data_key_protection not in KEY_PROTECTIONS:
            raise InvalidInput("data_key_protection", "must be password or file")
        if not 0 < self.session_idle_seconds <= self.session_max_seconds:
            raise InvalidInput("session_idle_seconds",
                               "must be above 0 and at most session_max_seconds")

    @property
    def parent_tls_verify(self) -> str | bool:
        """What ``requests`` checks the parent's certificate against (``verify=``)."""
        if not self.parent_ca_file:
            return True
        path = self.data_dir / self.parent_ca_file
        if not path.is_file():
            raise InvalidInput("parent_ca_file", f"{path} is not a file")
        return str(path)

    @property
    def key_in_slots(self) -> bool:
        """Whether the data key is kept only in the agents' slots: ``password`` protection
        at an enrolled node whose users sign in (a node serving its own PC as its agent,
        with nobody signing in, keeps the file)."""
        return (self.data_key_protection == "password" and bool(self.parent_url)
                and self.require_sign_in)

    @property
    def blob_dir(self) -> Path:
        """Where material files live, named by their SHA-256."""
        return self.data_dir / "blobs"

    @property
    def key_dir(self) -> Path:
        """Private keys: the data key here, the node's signing key later."""
        return self.data_dir / "keys"

    def to_file_dict(self) -> dict[str, object]:
        """What ``node.json`` holds (the data dir itself and test flags are not stored)."""
        data = asdict(self)
        for key in ("data_dir", "testing", "extra", "clock_offset_seconds"):
            data.pop(key)
        data["tier"] = self.tier.value
        if data["database_url"] == f"sqlite:///{self.data_dir / DATABASE_FILE}":
            data.pop("database_url")
        return data

    def write(self) -> Path:
        """Store the settings as ``node.json`` in the data directory."""
        path = self.data_dir / CONFIG_FILE
        path.write_text(json.dumps(self.to_file_dict(), ensure_ascii=False, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, data_dir: Path, environ: Mapping[str, str] | None = None) -> NodeSettings:
        """Settings from ``DATA_DIR/node.json``, overridden by ``SANJI_NODE_*`` variables."""
        env = os.environ if environ is None else environ
        path = Path(data_dir) / CONFIG_FILE
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput("data_dir", f"{path} is missing: run 'sanji node init' first")
        except (OSError, ValueError) as exc:
            raise InvalidInput("data_dir", f"cannot read {path}: {exc}")
        if not isinstance(stored, dict):
            raise InvalidInput("data_dir", f"{path} must hold a JSON object")
        settings = cls(data_dir=Path(data_dir), **stored)
        overrides: dict[str, object] = {}
        if "SANJI_NODE_PUBLIC_BASE_URL" in env:
            overrides["public_base_url"] = env["SANJI_NODE_PUBLIC_BASE_URL"]
        if "SANJI_NODE_DATABASE_URL" in env:
            overrides["database_url"] = env["SANJI_NODE_DATABASE_URL"]
        if env.get(TEST_FAULTS_ENV) == "1" and CLOCK_OFFSET_ENV in env:
            overrides["clock_offset_seconds"] = float(env[CLOCK_OFFSET_ENV])
        return replace(settings, **overrides) if overrides else settings  # type: ignore[arg-type]
