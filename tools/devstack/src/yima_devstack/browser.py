"""Headless Chromium for the browser tests of the web pages (Debian's chromium + chromedriver, driven by
selenium, which the testing service packages depend on)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"


def ensure_chromium() -> None:
    """CI runs on a fresh machine: install Debian's chromium and its driver when they are missing."""
    if os.path.exists(CHROMIUM) and os.path.exists(DRIVER):
        return
    if shutil.which("apt-get") is None:
        raise RuntimeError("chromium is missing and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    # a CJK font so that screenshots read (the assertions use the DOM, not pixels)
    packages = ["chromium", "chromium-driver", "fonts-wqy-zenhei"]
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env, timeout=900)


@contextmanager
def headless_chromium(window: str = "1280,1400") -> Iterator[Any]:
    """A selenium Chrome driver on headless Chromium, Chinese locale; quits on exit."""
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--window-size={window}", "--lang=zh-CN"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.implicitly_wait(5)  # a loaded CI machine: let each page finish loading before looking for an element
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
