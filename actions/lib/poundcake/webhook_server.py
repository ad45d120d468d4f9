"""The sensor's HTTP(S) server: routing, auth, limits, health and metrics.

Built on the stdlib server so it runs unchanged on OS threads and under st2's
eventlet monkey-patching (where its threads become green threads). What a
webhook body means is not decided here: the server hands the bytes to an
``app`` callable, which the sensor wires to :class:`AlertIngestor` and the
benchmark to a do-nothing floor.

Every answer is JSON. The server never lets an exception escape a request:
an unexpected one becomes a 500 and the server keeps serving.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Callable, Dict, Optional, Tuple

from poundcake import board as board_page
from poundcake.board import Board, FilterError
from poundcake.http_auth import Authenticator, BoardAuth
from poundcake.metrics import SensorMetrics
from poundcake.settings import WebhookSettings
from poundcake.tracking import new_request_id

# app(body, request_id) -> (HTTP status, JSON document)
WebhookApp = Callable[[bytes, str], Tuple[int, Dict[str, Any]]]

_JSON_TYPES = ("application/json",)


class WebhookServer:
    def __init__(
        self,
        settings: WebhookSettings,
        app: WebhookApp,
        metrics: SensorMetrics,
        logger: Any,
        board: Optional[Board] = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log = logger
        self.app = app
        self.auth = Authenticator(settings)
        self.board = board if settings.board_enabled else None
        self.board_auth = BoardAuth(settings)
        self._stop = threading.Event()
        self._loop_done = threading.Event()
        self._inflight = 0
        self._idle = threading.Condition()
        tls = None
        if settings.tls_enabled:  # before binding, so a bad certificate leaves no socket
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
        self._httpd = _HTTPServer(self, (settings.listen_host, settings.listen_port))
        self._httpd.tls = tls
        metrics.ready.set_function(lambda: float(self.ready))  # read at scrape time, as /ready

    @property
    def address(self) -> Tuple[str, int]:
        host, port = self._httpd.server_address[:2]
        return host, port

    @property
    def ready(self) -> bool:
        return not self._stop.is_set()

    def serve(self) -> None:
        """Serve until :meth:`request_stop`; blocks the calling (green) thread."""
        try:
            while not self._stop.is_set():
                self._httpd.handle_request()
        finally:
            self._loop_done.set()

    def request_stop(self) -> None:
        """Stop accepting; safe from a signal handler or another thread."""
        self._stop.set()

    def close(self, grace: float = 4.0) -> None:
        """Stop, let in-flight requests finish for up to ``grace`` s, free the port."""
        self.request_stop()
        if self._httpd.loop_started:
            self._loop_done.wait(1.0)
        deadline = time.monotonic() + grace
        with self._idle:
            while self._inflight and time.monotonic() < deadline:
                self._idle.wait(max(0.0, deadline - time.monotonic()))
            abandoned = self._inflight
        self._httpd.server_close()
        if abandoned:
            self.log.warning(
                "closed with %d request(s) still running; their senders get no answer "
                "and will retry",
                abandoned,
            )

    def _enter(self) -> None:
        with self._idle:
            self._inflight += 1

    def _leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            if not self._inflight:
                self._idle.notify_all()


# At most this much of an unread body is drained so its answer arrives (see _drain).
_DRAIN_LIMIT = 64 << 20


class _HTTPServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    block_on_close = False  # WebhookServer.close drains with a bounded grace
    allow_reuse_address = True
    request_queue_size = 128
    timeout = 0.5  # how often the serve loop looks at the stop flag

    def __init__(self, owner: WebhookServer, address: Tuple[str, int]) -> None:
        self.owner = owner
        self.tls: Optional[ssl.SSLContext] = None
        self.loop_started = False
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_request(self) -> None:
        self.loop_started = True
        super().handle_request()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._enter()
        try:
            super().process_request(request, client_address)
        except Exception:
            self.owner._leave()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.owner._leave()

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs here, in the request's own thread, so one
        # slow client cannot stall the accept loop.
        request.settimeout(self.owner.settings.request_read_timeout_seconds)
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                self.owner.log.info("TLS handshake with %s failed: %s", client_address[0], exc)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner.log.exception("unexpected error serving %s", client_address[0])


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    # HTTP/1.0: one request per connection, so no idle keep-alive connection
    # can hold up shutdown.
    protocol_version = "HTTP/1.0"

    def version_string(self) -> str:
        return "PoundCake"

    def setup(self) -> None:
        self.timeout = self.server.owner.settings.request_read_timeout_seconds
        super().setup()

    @property
    def owner(self) -> WebhookServer:
        return self.server.owner

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib name)
        self.owner.log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/health":
            self._send(200, {"status": "alive"}, count=False)
        elif path == "/ready":
            ready = self.owner.ready
            doc = {"status": "ready" if ready else "stopping"}
            self._send(200 if ready else 503, doc, count=False)
        elif path == "/metrics":
            metrics = self.owner.metrics
            self._send_raw(200, metrics.render(), metrics.content_type, count=False)
        elif path == "/ui" or path.startswith("/ui/"):
            self._board(path, query)
        else:
            self._not_here(path)

    def _board(self, path: str, query: str) -> None:
        """The read-only incident board (see :mod:`poundcake.board`), behind
        basic auth; ``query`` filters ``/ui/state.json`` (400 when invalid)."""
        board = self.owner.board
        if board is None:
            doc = {"error": "the incident board is off: set board_username and board_password"}
            self._send(404, doc, count=False)
            return
        if not self.owner.board_auth.allows(self.headers.get("Authorization")):
            self._extra_headers = {"WWW-Authenticate": BoardAuth.challenge}
            self._send(401, {"error": "the incident board needs its credentials"}, count=False)
            return
        headers = dict(board_page.HEADERS)
        if path == "/ui/state.json":
            try:
                doc = board.snapshot(query)
            except FilterError as exc:
                self._extra_headers = headers
                self._send(400, {"error": str(exc)}, count=False)
                return
            body = json.dumps(doc, separators=(",", ":")).encode()
            self._send_raw(200, body, "application/json", headers, count=False)
            return
        found = board_page.asset("board.html" if path in ("/ui", "/ui/") else path[4:])
        if found is None:
            self._send(404, {"error": f"no such path {path}"}, count=False)
            return
        self._send_raw(200, found[0], found[1], headers, count=False)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != self.owner.settings.webhook_path:
            self._not_here(path)
            return
        started = time.monotonic()
        request_id = new_request_id()
        status = 500
        try:
            status, doc = self._webhook(request_id)
        except Exception:
            self.owner.log.exception("request %s: unexpected error", request_id)
            doc = {"error": "internal error; see the sensor log", "request_id": request_id}
        finally:
            self.owner.metrics.request_duration.observe(time.monotonic() - started)
        self._send(status, doc, request_id=request_id)
        self._drain()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = lambda self: self._not_here(  # noqa: E731
        self.path.split("?", 1)[0]
    )

    def _drain(self) -> None:
        """Read and drop a body that was answered unread (401, 411, 413, 415).

        Closing a socket with unread data in it sends a reset, and a client
        still writing its body (Alertmanager's does) then sees "connection
        reset" instead of the answer, and retries. Bounded by
        ``_DRAIN_LIMIT`` bytes and the read timeout: beyond that the
        connection is closed as it is.
        """
        left = min(getattr(self, "_unread", 0), _DRAIN_LIMIT)
        deadline = time.monotonic() + self.owner.settings.request_read_timeout_seconds
        try:
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read(min(left, 1 << 16))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass  # the client gave up; nothing left to protect

    def _webhook(self, request_id: str) -> Tuple[int, Dict[str, Any]]:
        settings = self.owner.settings
        declared = self.headers.get("Content-Length", "")
        self._unread = int(declared) if declared.isdigit() else 0
        if not self.owner.auth.allows(self.headers.get("Authorization")):
            self._extra_headers = {"WWW-Authenticate": self.owner.auth.challenge}
            return 401, error_document(request_id, "missing or wrong credentials")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type not in _JSON_TYPES:
            return 415, error_document(request_id, "Content-Type must be application/json")
        if self.headers.get("Transfer-Encoding"):
            return 411, error_document(
                request_id, "chunked bodies are not accepted; send Content-Length"
            )
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            return 411, error_document(request_id, "Content-Length header is required")
        if length < 0:
            return 400, error_document(request_id, "Content-Length must not be negative")
        self.owner.metrics.payload_bytes.observe(length)
        if length > settings.max_body_bytes:
            return 413, error_document(
                request_id,
                f"body of {length} bytes exceeds max_body_bytes ({settings.max_body_bytes}); "
                "lower max_alerts in the Alertmanager receiver or raise max_body_bytes",
            )
        body = self.rfile.read(length)
        self._unread = 0
        if len(body) != length:
            return 400, error_document(request_id, "body ended before Content-Length bytes")
        return self.owner.app(body, request_id)

    def _not_here(self, path: str) -> None:
        allowed = {"/health": "GET", "/ready": "GET", "/metrics": "GET", "/ui": "GET"}
        allowed[self.owner.settings.webhook_path] = "POST"
        if path in allowed:
            self._extra_headers = {"Allow": allowed[path]}
            self._send(405, {"error": f"method {self.command} not allowed; use {allowed[path]}"})
        else:
            self._send(404, {"error": f"no such path {path}"})

    def _send(
        self,
        status: int,
        doc: Dict[str, Any],
        request_id: Optional[str] = None,
        count: bool = True,
    ) -> None:
        headers = dict(getattr(self, "_extra_headers", {}))
        if request_id:
            headers["X-Request-Id"] = request_id
        body = json.dumps(doc, separators=(",", ":")).encode()
        self._send_raw(status, body, "application/json", headers, count)

    def _send_raw(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: Optional[Dict[str, str]] = None,
        count: bool = True,
    ) -> None:
        """Answer; ``count`` is False for probes and scrapes, which are not webhook traffic."""
        if count:
            metrics = self.owner.metrics
            metrics.child(metrics.requests, str(status)).inc()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError as exc:  # the client went away; nothing to answer
            self.owner.log.info("could not answer %s: %s", self.client_address[0], exc)


def error_document(request_id: str, message: str, **extra: Any) -> Dict[str, Any]:
    """The JSON body of every webhook error answer (shared with the webhook app)."""
    return {"error": message, "request_id": request_id, **extra}
