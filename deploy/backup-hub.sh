#!/usr/bin/env bash
# Nightly hub backup: a consistent pg_dump plus the blob store and the hub's key.
# After a restore the hub starts a NEW EPOCH (sanji hub init --new-epoch) so that its children
# re-send everything the restored copy lacks; nothing acknowledged since the backup is lost.
set -euo pipefail
dest=${1:?usage: backup-hub.sh DEST_DIR}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dest/$stamp"
pg_dump --format=custom --file "$dest/$stamp/hub.pgdump" "${SANJI_DATABASE_URL:?set SANJI_DATABASE_URL}"
tar -C /var/lib/sanji/hub -czf "$dest/$stamp/blobs-and-keys.tar.gz" blobs keys
echo "$dest/$stamp"
