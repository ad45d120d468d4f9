"""What the tests' loopback HTTP servers share: a JSON answer."""

import json


def send_json(handler, status, doc):
    """Answer ``doc`` as JSON with ``status`` from a BaseHTTPRequestHandler."""
    data = json.dumps(doc).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
