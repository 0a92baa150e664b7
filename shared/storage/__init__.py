"""SQLAlchemy storage shared by every site: engine set-up, bulk insert, the sync store, the
accounts, failure counts, link state and the blob store.

Importing the package registers every shared table on :data:`shared.storage.db.Base`'s
metadata, so a migration environment needs nothing else to see them.
"""

from shared.storage import accounts, failure_counts, sync_store

__all__ = ["accounts", "failure_counts", "sync_store"]
