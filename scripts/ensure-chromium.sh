#!/usr/bin/env bash
# Make sure a headless Chromium is on PATH (the HTML report test drives it).
# Installs Debian's `chromium` with apt-get when missing; prints the binary's path.
set -euo pipefail
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; exit 0; fi
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is not installed and apt-get is not available" >&2; exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
command -v chromium
