#!/usr/bin/env bash
# Installs what the browser tests need (docs/operations.md, "Browser tests"):
# Debian's Chromium (as root, through apt) and playwright-core, pinned by
# package-lock.json (no browser download: Debian's binary is driven).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v chromium >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tools/browser/install.sh: chromium is missing and installing it needs root (apt-get install chromium)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
chromium --version 2>/dev/null | head -1
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
