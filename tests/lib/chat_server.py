"""A loopback HTTP server that records every request and answers as Slack's
chat.postMessage does (``{"ok": true, "channel", "ts", "message"}``; a
reply keeps its ``thread_ts``). The notify tests point core.http at it; as
an Alertmanager webhook receiver it records what a human would be told.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from loopback_http import send_json


class ChatServer:
    def __init__(self, status=200):
        self.requests = []
        self.status = status  # what it answers (a failing chat service: 500)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode(errors="replace")
                send_json(self, outer.status, outer._record(self.path, dict(self.headers), body))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _record(self, path, headers, body):
        with self._lock:
            ts = f"{int(time.time())}.{len(self.requests) + 1:06d}"
            received = {"path": path, "headers": headers, "body": body, "ts": ts, "at": time.time()}
            self.requests.append(received)
        if self.status >= 400:
            return {"ok": False, "error": "internal_error"}
        sent = body if isinstance(body, dict) else {}
        message = {"type": "message", "text": sent.get("text", ""), "ts": ts}
        if sent.get("thread_ts"):
            message["thread_ts"] = sent["thread_ts"]
        return {"ok": True, "channel": sent.get("channel", ""), "ts": ts, "message": message}

    def bodies(self, path=None):
        with self._lock:
            return [r["body"] for r in self.requests if path is None or r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def chat_notifier(url, transitions, text="${alertname} on ${host}: ${state} (${reason})"):
    """A notifier: st2's core.http speaking chat.postMessage to the server at
    ``url``, threaded by its answer's ts."""
    return {
        "name": "chat",
        "action": "core.http",
        "transitions": list(transitions),
        "parameters": {
            "url": url + "/api/chat.postMessage",
            "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": {"channel": "#ops", "text": text, "thread_ts": "${thread_id}"},
        },
        "thread": "body.ts",
    }
