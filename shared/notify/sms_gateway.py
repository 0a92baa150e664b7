"""Where text messages go: a log (the default, for a site without a contract with an SMS
provider, and for the demo) or an HTTP gateway.

The HTTP adapter posts ``{"id", "phone", "text"}`` as JSON to the configured URL, with the
token as a Bearer header when one is set; any 2xx means the gateway took the message. The
``id`` is stable per message, so a gateway that deduplicates never sends a retried message
twice. A gateway that is down or slow raises :class:`GatewayError`; the caller retries
later, and nothing in the case's work waits for it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import requests

from shared.domain.identity import mask_phone

LOG = logging.getLogger("sanji.sms")
TIMEOUT = (5.0, 10.0)


class GatewayError(Exception):
    """The gateway could not take the message now."""


class SmsGateway(Protocol):
    @property
    def name(self) -> str:
        """``log`` or ``http``."""

    def send(self, message_id: str, phone: str, text: str) -> None:
        """Hand one message over, or raise :class:`GatewayError`."""


@dataclass(frozen=True)
class LogGateway:
    """Writes each message to the log (the phone masked): nothing leaves the site."""

    name: str = "log"

    def send(self, message_id: str, phone: str, text: str) -> None:
        LOG.info("sms", extra={"fields": {"id": message_id, "phone": mask_phone(phone),
                                          "text": text}})


@dataclass(frozen=True)
class HttpGateway:
    """Posts each message to an SMS provider's HTTP endpoint."""

    url: str
    token: str = ""
    name: str = "http"

    def send(self, message_id: str, phone: str, text: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            response = requests.post(self.url, json={"id": message_id, "phone": phone,
                                                     "text": text},
                                     headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise GatewayError(exc.__class__.__name__) from None
        if not 200 <= response.status_code < 300:
            raise GatewayError(f"HTTP {response.status_code}")


def gateway_for(url: str, token: str = "") -> SmsGateway:
    """The HTTP gateway at ``url``, or the log when no URL is configured."""
    return HttpGateway(url, token) if url else LogGateway()
