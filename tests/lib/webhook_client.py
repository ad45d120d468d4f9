"""A tiny HTTP client for talking to the sensor in tests (stdlib only)."""

import base64
import http.client
import json
import ssl


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body)


def request(
    port, method, path, body=None, headers=None, host="127.0.0.1", tls_context=None, timeout=30
):
    if tls_context is not None:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls_context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def basic(user, password):
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "Content-Type": "application/json"}


def insecure_tls():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def send_whole_body_then_read(port, body, headers, host="127.0.0.1", timeout=30):
    """POST the way Go's client does: the whole body first, then read the
    answer. Returns what came back (b"" when the connection was reset)."""
    import socket

    head = f"POST /webhook HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(head.encode() + body)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        except ConnectionResetError:
            return b""
