"""Debian's headless Chromium, driven over its DevTools pipe.

``--remote-debugging-pipe`` makes Chromium read DevTools commands from fd 3
and answer on fd 4, NUL-separated JSON: no websocket client, no port. A test
opens a page, clicks, types and reads the DOM the way a person would see it.

The sensor under test serves from this eventlet-patched process, so every
wait here is green (the pipe is non-blocking and read through
``eventlet.green.os``): a blocking read would stop the sensor answering the
browser.
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from eventlet.green import os as green_os
from eventlet.green import subprocess as green_subprocess

ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)

# Puts the pipe ends on fds 3 and 4 and becomes Chromium: a preexec_fn would
# do it too, but makes subprocess fork this eventlet-patched process.
_ONTO_3_AND_4 = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


def chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise RuntimeError("chromium not found: scripts/bootstrap installs Debian's chromium")
    return binary


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, width=1400, height=900):
        self._profile = tempfile.mkdtemp(prefix="poundcake-chromium-")
        self._next_id = 0
        self._buffer = b""
        commands_r, self._commands = os.pipe()
        self._answers, answers_w = os.pipe()
        browser = [chromium(), *ARGS, f"--user-data-dir={self._profile}", "about:blank"]
        self._proc = green_subprocess.Popen(
            [sys.executable, "-c", _ONTO_3_AND_4, str(commands_r), str(answers_w), *browser],
            pass_fds=(commands_r, answers_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(commands_r)
        os.close(answers_w)
        os.set_blocking(self._answers, False)
        (page,) = [t for t in self._send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        attached = self._send("Target.attachToTarget", targetId=page["targetId"], flatten=True)
        self._session = attached["sessionId"]
        self.resize(width, height)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self._send("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        for fd in (self._commands, self._answers):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)

    def resize(self, width, height):
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def page(self, method, **params):
        """A DevTools command to the page."""
        return self._send(method, self._session, **params)

    def open(self, url, ready="true"):
        """Load ``url`` and wait until the new document is loaded and ``ready``
        (a JS expression) holds."""
        self.js("window.__left = true")  # the old document answers until it is replaced
        self.page("Page.navigate", url=url)
        self.wait(f"!window.__left && document.readyState === 'complete' && ({ready})")

    def js(self, expression):
        """The value of a JS expression in the page (promises awaited)."""
        answer = self.page(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in answer:
            raise BrowserError(f"{expression}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait(self, expression, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(f"!!({expression})"):
                    return
            except BrowserError:
                pass  # the page is between documents
            time.sleep(0.05)
        raise AssertionError(f"the page never showed {expression}")

    def screenshot(self, path):
        png = self.page("Page.captureScreenshot", format="png")
        with open(path, "wb") as fp:
            fp.write(base64.b64decode(png["data"]))

    def _send(self, method, session=None, **params):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._answer(self._next_id)

    def _answer(self, wanted, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, _, self._buffer = self._buffer.partition(b"\0")
                message = json.loads(raw)
                if message.get("id") != wanted:
                    continue  # an event, or an answer nobody waits for
                if "error" in message:
                    raise BrowserError(f"{message['error']}")
                return message["result"]
            try:
                chunk = green_os.read(self._answers, 1 << 16)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk:
                raise BrowserError("chromium closed its DevTools pipe")
            self._buffer += chunk
        raise BrowserError(f"no answer from chromium in {timeout} s")
