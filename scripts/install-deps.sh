#!/usr/bin/env bash
# Install the system and Python packages Pasarela's build, daemon and tests need.
# Idempotent: installs only what is missing, so CI can run it on every build.
set -euo pipefail

APT_PACKAGES=(
  pkg-config          # C library discovery for -sys crates
  openssh-client      # sftp/ssh clients used by the SFTP tests
  sqlite3             # inspecting the embedded store by hand
  tesseract-ocr       # OCR of scans and photos (run in an isolated worker)
  tesseract-ocr-spa   # Spanish model
  poppler-utils       # pdftotext / pdftoppm / pdfdetach for PDFs
  libxml2-utils       # xmllint: the optional XSD check ([dian] xsd_dir)
  xmlsec1             # xmlsec1 --verify: second opinion in the XAdES differential test
  openssl             # openssl CLI: the test CA that signs the XAdES test corpus
  chromium            # headless browser for the desk's browser tests (tests/it/desk_browser.rs)
  chromium-driver     # chromedriver: WebDriver for that browser
  fonts-dejavu-core   # a font for the browser's screenshots of the desk
)
PIP_PACKAGES=(
  paramiko            # second SFTP client implementation in tests/py
  pytest
  "aiosmtpd>=1.4,<2"  # a real SMTP server on loopback for the e-mail tests
  "moto[server]>=5.2,<6"  # AWS Transfer Family stand-in for tests/aws_sync.rs (feature aws)
)

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

if [ ${#PIP_PACKAGES[@]} -gt 0 ]; then
  need=()
  for p in "${PIP_PACKAGES[@]}"; do
    python3 -m pip show "${p%%[][<>=]*}" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    python3 -m pip install --quiet --disable-pip-version-check "${need[@]}"
  fi
fi

command -v cargo >/dev/null || { echo "cargo not found: install Rust (rustup) first" >&2; exit 1; }
