"""The glue around :mod:`sync_protocol`: storage in, storage out (see
:mod:`shared.exchange.site`)."""
