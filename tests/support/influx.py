"""A private InfluxDB for tests and benchmarks, and the v2-write proxy in front of it.

Debian ships InfluxDB 1.6, which predates the /api/v2/write endpoint that influxdb-client's
write API uses. V2WriteProxy rewrites that one path to 1.x /write (bucket -> db) and forwards
everything else untouched, so the real client write path runs against a real server.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
_V2_TO_V1_PRECISION = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateInfluxd:
    """influxd 1.x on free loopback ports with its own data dir; stop() ends only this process."""

    def __init__(self, data_dir: Path | None = None, max_body_size: int = 0) -> None:
        """max_body_size: the largest write body in bytes influxd takes (HTTP 413 beyond);
        0 for no limit."""
        self._tmp = None if data_dir else tempfile.TemporaryDirectory(prefix="recyclab-influx-")
        self.max_body_size = max_body_size
        self.data_dir = Path(data_dir or self._tmp.name)
        self.port = free_port()
        self.rpc_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        d = self.data_dir
        config = d / "influxdb.conf"
        config.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{d / "meta"}"
  logging-enabled = false
[data]
  dir = "{d / "data"}"
  wal-dir = "{d / "wal"}"
  query-log-enabled = false
  trace-logging-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = false
  log-enabled = false
  max-body-size = {self.max_body_size}
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
[logging]
  level = "warn"
"""
        )
        return config

    def start(self, timeout: float = 30.0) -> PrivateInfluxd:
        if not Path(INFLUXD).exists():
            raise RuntimeError(
                "influxd not found: install Debian's influxdb package (make test does)"
            )
        config = self._write_config()
        log = open(self.data_dir / "influxd.log", "ab")
        self.process = subprocess.Popen(
            [INFLUXD, "run", "-config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"influxd exited with {self.process.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(self.url + "/ping", timeout=1) as resp:
                    if resp.status == 204:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"influxd did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def query(self, q: str, db: str | None = None, method: str = "GET") -> dict:
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        if method == "GET":
            req = urllib.request.Request(f"{self.url}/query?{data.decode()}")
        else:
            req = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            import json

            return json.load(resp)

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def drop_database(self, name: str) -> None:
        self.query(f'DROP DATABASE "{name}"', method="POST")


class V2WriteProxy:
    """Loopback HTTP proxy: POST /api/v2/write?bucket=B&precision=P -> POST /write?db=B&precision=p.

    A write of which the server refused some points ("partial write") is answered 400 by
    InfluxDB 1.x and 3.x, but 422 by InfluxDB 2.x; partial_write_status=422 answers it as 2.x."""

    def __init__(self, target_url: str, port: int | None = None,
                 partial_write_status: int = 400) -> None:
        target = urllib.parse.urlsplit(target_url)
        self.target_host, self.target_port = target.hostname, target.port
        self.port = port or free_port()
        self.partial_write_status = partial_write_status
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> V2WriteProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._forward()

            def do_POST(self) -> None:
                self._forward()

            def _forward(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                path, query = parts.path, parts.query
                if path == "/api/v2/write":
                    params = dict(urllib.parse.parse_qsl(query))
                    v1 = {"db": params.get("bucket", "")}
                    v1["precision"] = _V2_TO_V1_PRECISION.get(params.get("precision", "ns"), "n")
                    path, query = "/write", urllib.parse.urlencode(v1)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in {"content-type", "content-encoding", "accept", "authorization"}
                }
                conn = http.client.HTTPConnection(proxy.target_host, proxy.target_port, timeout=60)
                try:
                    conn.request(self.command, path + ("?" + query if query else ""), body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except OSError as exc:
                    self.send_error(502, f"influxd unreachable: {exc}")
                    return
                finally:
                    conn.close()
                status = resp.status
                if path == "/write" and status == 400 and b"partial write" in data:
                    status = proxy.partial_write_status
                self.send_response(status)
                for k, v in resp.getheaders():
                    if k.lower() in {"content-type", "x-influxdb-error", "x-influxdb-version"}:
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
