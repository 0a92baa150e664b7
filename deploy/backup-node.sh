#!/usr/bin/env bash
# Node backup that is safe while the node runs: SQLite's online backup API, then the blobs.
set -euo pipefail
data=${1:?usage: backup-node.sh DATA_DIR DEST_DIR}
dest=${2:?usage: backup-node.sh DATA_DIR DEST_DIR}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$dest/$stamp"
python3 - "$data/node.sqlite" "$dest/$stamp/node.sqlite" <<'PY'
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with dst:
    src.backup(dst)
PY
tar -C "$data" -czf "$dest/$stamp/blobs-and-keys.tar.gz" blobs keys
echo "$dest/$stamp"
