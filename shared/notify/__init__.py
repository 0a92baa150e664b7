"""Telling citizens of their case by text message (短信通知): the gateways a site sends
through (:mod:`shared.notify.sms_gateway`)."""
