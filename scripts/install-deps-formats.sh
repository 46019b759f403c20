#!/bin/sh
# System packages for non-XML invoices (issue 5): OCR (Tesseract + Spanish
# model), PDF text/raster/attachments (poppler-utils). Idempotent: installs
# only what is missing. Run as root (or with sudo) on Debian 12 / Ubuntu.
set -eu
PKGS="tesseract-ocr tesseract-ocr-spa poppler-utils"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends $missing
fi
tesseract --list-langs 2>/dev/null | grep -qx spa || { echo "tesseract 'spa' model missing" >&2; exit 1; }
command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null && command -v pdfdetach >/dev/null
echo "formats dependencies OK"
