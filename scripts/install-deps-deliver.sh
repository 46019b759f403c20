#!/usr/bin/env bash
# Packages the delivery features (certificates, e-mail, reports) need for their
# tests. Idempotent: installs only what is missing.
#   poppler-utils : pdftotext, used by tests to read certificates
#   aiosmtpd      : the real SMTP server the e-mail tests run on loopback (PyPI,
#                   so it lands in the python3 on PATH, pyenv or system)
# The certificate fonts (DejaVu Sans) are shipped in fixtures/fonts/ and
# compiled into the binary: no font package is needed at run time.
set -euo pipefail

APT_PACKAGES=(poppler-utils)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c "import aiosmtpd" >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check "aiosmtpd>=1.4,<2"
fi
