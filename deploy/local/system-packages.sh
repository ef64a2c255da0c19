#!/usr/bin/env bash
# Debian packages the tests use beside Python's: Chromium, for the browser EventSource test.
# Installs only what is missing, and only where apt-get can run (root on Debian).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing ${missing[*]} (install it with your package manager); the browser test will say it is skipped." >&2
  exit 0
fi
echo "Installing ${missing[*]}..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
