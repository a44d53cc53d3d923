"""Debian's Chromium for the browser tests (the `chromium` fixture in fixtures.py launches it):
where it is, how it is started on this closed network, where screenshots go.

Playwright drives /usr/bin/chromium through `executable_path`, never a browser of its own
download (that download cannot reach its host here, nor in CI)."""

import os
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps opening connections that the closed
# network refuses; --no-sandbox because the tests run as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-quic", "--no-first-run"]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-artifacts" / "screenshots"


def install_chromium():
    """Debian's chromium package, when it is missing; the reason why not, or None."""
    if os.path.exists(CHROMIUM):
        return None
    if not shutil.which("apt-get"):
        return "no /usr/bin/chromium and no apt-get to install it"
    result = subprocess.run(["apt-get", "install", "-y", "chromium"], capture_output=True, text=True, timeout=900)
    if result.returncode != 0 or not os.path.exists(CHROMIUM):
        return f"apt-get install -y chromium failed: {result.stderr.strip()[-200:]}"
    return None
