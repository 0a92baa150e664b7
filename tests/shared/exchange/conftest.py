"""The small tree the relayed look-ups are tested in (:mod:`tests.shared.tree_fixtures`)."""

from tests.shared.tree_fixtures import keys, session  # noqa: F401
