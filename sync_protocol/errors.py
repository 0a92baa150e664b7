"""One hierarchy of protocol errors, each with a stable code the spec lists.

``RemoteProtocolError`` means the peer (or something on the link) sent bytes we
refuse; ``LocalProtocolError`` means the caller used the library out of order.
Hostile input never raises anything that is not a :class:`ProtocolError`.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error raised by ``sync_protocol``.

    ``code`` is stable and travels in refusals; ``field`` names the part of the
    message at fault and ``reason`` says why, for logs and operators.
    """

    code = "protocol_error"
    http_status = 400

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{self.code}: {field}: {reason}" if field else f"{self.code}: {reason}")
        self.field = field
        self.reason = reason


class LocalProtocolError(ProtocolError):
    """The caller drove the library out of order or with impossible values."""

    code = "local_misuse"
    http_status = 500


class RemoteProtocolError(ProtocolError):
    """The peer's bytes are refused; nothing from them was applied."""


class Malformed(RemoteProtocolError):
    """Bytes do not decode, or a field has the wrong type or range."""

    code = "malformed"


class TooLarge(RemoteProtocolError):
    """A frame, a decompressed body or a field exceeds its bound."""

    code = "too_large"
    http_status = 413


class VersionUnsupported(RemoteProtocolError):
    """The wire version is not one this side reads."""

    code = "version_unsupported"


class SignatureInvalid(RemoteProtocolError):
    """An Ed25519 signature does not verify against the named key."""

    code = "signature_invalid"
    http_status = 401


class KeyUnknown(RemoteProtocolError):
    """A key id is not known for the site that claims it."""

    code = "key_unknown"
    http_status = 401


class KeyRevoked(RemoteProtocolError):
    """The key was revoked and the message is beyond what it may still vouch for."""

    code = "key_revoked"
    http_status = 403


class CertificateInvalid(RemoteProtocolError):
    """A certificate, rotation or enrolment proof does not check out."""

    code = "certificate_invalid"
    http_status = 401


class Replay(RemoteProtocolError):
    """A nonce was seen before, or a response answers another request."""

    code = "replay"
    http_status = 409


class ClockSkew(RemoteProtocolError):
    """The request time is outside the window around the parent's clock."""

    code = "clock_skew"
    http_status = 401


class WrongAddress(RemoteProtocolError):
    """The message is addressed to another site, or comes from one not linked here."""

    code = "wrong_address"
    http_status = 403


class WrongOrigin(RemoteProtocolError):
    """An event's origin is not in the subtree of the child that relayed it."""

    code = "wrong_origin"
    http_status = 403


class ChainBroken(RemoteProtocolError):
    """A hash chain does not link: an event was edited, dropped or forked."""

    code = "chain_broken"
    http_status = 409


class ReleaseRollback(RemoteProtocolError):
    """A release is older than, or conflicts with, one already accepted."""

    code = "release_rollback"
    http_status = 409


class ReleaseExpired(RemoteProtocolError):
    """A release arrived after its expiry: someone may be holding back newer ones."""

    code = "release_expired"
    http_status = 409


class BlobMismatch(RemoteProtocolError):
    """A blob chunk is out of place, or the whole blob does not hash to its name."""

    code = "blob_mismatch"
    http_status = 409


ERROR_CODES: dict[str, type[ProtocolError]] = {
    cls.code: cls
    for cls in (
        ProtocolError,
        LocalProtocolError,
        Malformed,
        TooLarge,
        VersionUnsupported,
        SignatureInvalid,
        KeyUnknown,
        KeyRevoked,
        CertificateInvalid,
        Replay,
        ClockSkew,
        WrongAddress,
        WrongOrigin,
        ChainBroken,
        ReleaseRollback,
        ReleaseExpired,
        BlobMismatch,
    )
}
"""Every stable error code and the class that carries it (the spec lists the same)."""


def error_for_code(code: str, reason: str) -> ProtocolError:
    """Rebuild the error a peer reported in a refusal (unknown codes stay generic)."""
    cls = ERROR_CODES.get(code, RemoteProtocolError)
    err = cls("refusal", reason)
    if cls is RemoteProtocolError:
        err.code = code
    return err
