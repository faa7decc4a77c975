"""Serve the embedded model over HTTP on loopback, for recording json_schema cassettes.

llama-cpp-python's own server rejects `response_format: json_schema`; this one turns it into
the same llama.cpp grammar the embedded backend uses. Run: python tests/record_server.py 8766
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from extractor.backends.embedded import _complete


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        payload = json.dumps(_complete(body)).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _Handler).serve_forever()
