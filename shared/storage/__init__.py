"""SQLAlchemy storage shared by every site: engine set-up, bulk insert, the sync store, the
accounts, link state and the blob store.

Importing the package registers every shared table on :data:`shared.storage.db.Base`'s
metadata, so a migration environment needs nothing else to see them.
"""

from shared.storage import accounts, sync_store

__all__ = ["accounts", "sync_store"]
