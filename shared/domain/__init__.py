"""Pure rules every site applies: the catalogue, the case event log and its state machine, the
window workflow, working days, identity and form validation, site codes and release contents.

Standard library and :mod:`sync_protocol` types only: no database, no web, no network, and
``now`` always comes in as an argument.
"""
