"""A local stand-in for ultralytics' release assets: weights served over HTTP with Range, hanging up on request."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RELEASE = "/download/v8.3.0/"


class AssetServer:
    """Serves `files` under RELEASE with Range support; the first `cuts` answers stop half-way and hang up."""

    def __init__(self, files: dict[str, bytes], *, cuts: int = 0):
        self.files = files
        self.cuts = cuts
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.removeprefix(RELEASE)
                body = server.files.get(name) if self.path.startswith(RELEASE) else None
                if body is None:
                    self.send_error(404)
                    return
                requested = self.headers.get("Range")
                server.ranges.append(requested)
                start = int(requested.removeprefix("bytes=").rstrip("-")) if requested else 0
                part = body[start:]
                self.send_response(206 if requested else 200)
                self.send_header("Content-Length", str(len(part)))
                if requested:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.cuts > 0:
                    server.cuts -= 1
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}{RELEASE}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
