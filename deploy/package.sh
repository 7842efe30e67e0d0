#!/usr/bin/env bash
# Builds a self-contained tarball: dist/ + production node_modules + unit + installer.
# Output: duo-relay-<version>-linux.tar.gz in the current directory.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(node -p "require('$SRC/package.json').version")
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
(cd "$SRC" && npm run build --silent)
DESTDIR="$STAGE/root" "$SRC/deploy/install.sh" /opt/duo-relay
tar -C "$STAGE/root" -czf "duo-relay-$VERSION-linux.tar.gz" .
echo "duo-relay-$VERSION-linux.tar.gz"
