#!/usr/bin/env bash
# Installs a built checkout (npm ci && npm run build) as a systemd service:
#   /opt/duo-relay (code + production node_modules), /usr/bin/duo-relay, /etc/duo-relay,
#   the duo-relay system user, and systemd/duo-relay.service. Idempotent; keeps an existing config.
# Usage: sudo deploy/install.sh [PREFIX]   (PREFIX default /opt/duo-relay; DESTDIR honoured for packaging)
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${1:-/opt/duo-relay}
DESTDIR=${DESTDIR:-}
[ -f "$SRC/dist/src/main.js" ] || { echo "install.sh: run 'npm ci && npm run build' first (no dist/src/main.js)" >&2; exit 2; }
install -d "$DESTDIR$PREFIX" "$DESTDIR/etc/duo-relay" "$DESTDIR/usr/bin" "$DESTDIR/lib/systemd/system"
cp -r "$SRC/dist" "$SRC/package.json" "$SRC/package-lock.json" "$SRC/README.md" "$SRC/examples" "$DESTDIR$PREFIX/"
(cd "$DESTDIR$PREFIX" && npm ci --omit=dev --omit=optional --no-audit --no-fund --ignore-scripts >/dev/null)
ln -sf "$PREFIX/dist/src/main.js" "$DESTDIR/usr/bin/duo-relay"
chmod 755 "$DESTDIR$PREFIX/dist/src/main.js"
install -m 644 "$SRC/systemd/duo-relay.service" "$DESTDIR/lib/systemd/system/duo-relay.service"
[ -f "$DESTDIR/etc/duo-relay/config.yaml" ] || install -m 640 "$SRC/examples/config.yaml" "$DESTDIR/etc/duo-relay/config.yaml"
if [ -z "$DESTDIR" ]; then
  getent group duo-relay >/dev/null || groupadd --system duo-relay
  getent passwd duo-relay >/dev/null || useradd --system --gid duo-relay --home-dir /var/lib/duo-relay --shell /usr/sbin/nologin duo-relay
  chgrp duo-relay /etc/duo-relay/config.yaml
  command -v systemctl >/dev/null && systemctl daemon-reload || true
  echo "Installed. Edit /etc/duo-relay/config.yaml, put the Duo secret key in /etc/duo-relay/skey (mode 600),"
  echo "then: duo-relay check-config && systemctl enable --now duo-relay"
fi
