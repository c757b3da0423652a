"""Browser tests: a real Fleetgate server on a free port and headless Chromium with the
network cut (only 127.0.0.1 answers).

Chromium and its driver are Debian's `chromium` and `chromium-driver`. When missing they are
installed with apt-get if this process may (root, apt-get present); otherwise the tests skip
saying so, unless FLEETGATE_REQUIRE_BROWSER=1 (CI, .ci/run) turns the skip into a failure."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest
import uvicorn

from fleetgate.app import create_app
from fleetgate.bootstrap import migrate
from fleetgate.container import Container
from fleetgate.settings import Settings

PACKAGES = ("chromium", "chromium-driver")
# every request that is not to the loopback goes to this proxy, and nothing listens there
# (Chromium never proxies loopback addresses); names do not resolve either
NETWORK_CUT = ("--proxy-server=http://127.0.0.1:9",
               "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")


def _unavailable(reason: str) -> NoReturn:
    message = (f"headless Chromium is not available ({reason}); install Debian's "
               f"{' and '.join(PACKAGES)} (apt-get install {' '.join(PACKAGES)}) to run "
               "the browser tests")
    if os.environ.get("FLEETGATE_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _binaries() -> tuple[str, str] | None:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def _install() -> tuple[str, str]:
    found = _binaries()
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        _unavailable("missing, and apt-get cannot install it here: not root or no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    for step in ([apt, "update", "-q"], install) if _needs_update() else (install,):
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900,
                              check=False)
        if done.returncode != 0:
            _unavailable(f"{' '.join(step[:2])} failed: {done.stderr.strip()[-300:]}")
    found = _binaries()
    if found is None:
        _unavailable("apt-get ran but chromium or chromedriver is still missing")
    return found


def _needs_update() -> bool:
    """True when apt does not know the packages yet (a fresh image without package lists)."""
    cache = shutil.which("apt-cache")
    if cache is None:
        return True
    policy = subprocess.run([cache, "policy", PACKAGES[0]], capture_output=True, text=True,
                            check=False)
    return "Candidate: (none)" in policy.stdout or not policy.stdout.strip()


@pytest.fixture(scope="session")
def _driver() -> Iterator[Any]:
    chromium, chromedriver = _install()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-extensions", *NETWORK_CUT):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(_driver: Any) -> Any:
    """The session's Chromium, its console log emptied: each test sees its own messages."""
    _driver.get("about:blank")
    _driver.get_log("browser")
    return _driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The development profile (GraphiQL on) served by uvicorn on 127.0.0.1, in a thread."""
    container = Container(settings=settings)
    app = create_app(settings, container=container)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))

    async def serve() -> None:
        await migrate(container)
        await server.serve()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
