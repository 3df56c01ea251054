#!/usr/bin/env bash
# Make sure the browser tests (tests/dashboard/test_browser.py) can run: Playwright in the
# project's virtualenv, and Debian's Chromium, which Playwright drives directly (so no
# Playwright browser download is needed).
set -euo pipefail
PY="${PY:-.venv/bin/python}"
if [ -x "$PY" ] && ! "$PY" -c "import playwright" 2>/dev/null; then
    echo "ensure-browser: installing playwright into $PY's environment" >&2
    "$PY" -m pip install --quiet "playwright>=1.40"
fi
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-browser: installing chromium with apt-get" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver
else
    echo "ensure-browser: /usr/bin/chromium is missing and this is not root;" \
         "install it with: sudo apt-get install chromium chromium-driver" \
         "(until then the browser tests are skipped)" >&2
fi
