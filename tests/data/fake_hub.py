"""A tiny Hugging Face Hub over HTTP on 127.0.0.1, serving dataset repos from local folders.

It answers the few routes that ``huggingface_hub``/``datasets`` call to load a dataset repo
(file resolve with HEAD/GET and Range, repo info, tree listing, paths-info), so the hub code
path runs unmodified with only ``HF_ENDPOINT`` pointing here: the network boundary is the
only thing replaced. Every request is recorded in ``requests`` for the test to inspect.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """Serve ``{repo_id: folder}`` as dataset repos at one fixed commit."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {rid: Path(p) for rid, p in repos.items()}
        self.requests: list[str] = []
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                hub._handle(self, body=False)

            def do_GET(self) -> None:
                hub._handle(self, body=True)

            def do_POST(self) -> None:
                hub._handle(self, body=True)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- routing -------------------------------------------------------------------------
    def _handle(self, req: http.server.BaseHTTPRequestHandler, *, body: bool) -> None:
        self.requests.append(f"{req.command} {req.path}")
        url = urlparse(req.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        try:
            if parts[:1] == ["datasets"] and "resolve" in parts:
                k = parts.index("resolve")
                return self._resolve(req, "/".join(parts[1:k]), "/".join(parts[k + 2 :]), body)
            if parts[:2] == ["api", "datasets"]:
                return self._api(req, parts[2:], parse_qs(url.query))
        except KeyError:
            pass
        self._send(req, 404, b'{"error": "not found"}', {"X-Error-Code": "EntryNotFound"})

    def _api(self, req: http.server.BaseHTTPRequestHandler, parts: list[str], query: dict) -> None:
        for verb in ("revision", "tree", "paths-info"):
            if verb in parts:
                k = parts.index(verb)
                repo, rest = "/".join(parts[:k]), parts[k + 2 :]
                break
        else:
            repo, verb, rest = "/".join(parts), "revision", []
        root = self.repos[repo]
        if verb == "revision":
            siblings = [{"rfilename": p} for p in self._files(root)]
            info = {"id": repo, "sha": COMMIT, "siblings": siblings, "private": False, "gated": False}
            return self._json(req, info)
        if verb == "tree":
            prefix = "/".join(rest)
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._json(req, self._tree(root, prefix, recursive))
        length = int(req.headers.get("Content-Length", 0))
        raw = req.rfile.read(length).decode()
        form = parse_qs(raw) if "=" in raw and not raw.lstrip().startswith("{") else json.loads(raw or "{}")
        paths = form.get("paths", [])
        entries = [self._entry(root, p) for p in paths if (root / p).exists()]
        return self._json(req, entries)

    def _resolve(self, req: http.server.BaseHTTPRequestHandler, repo: str, path: str, body: bool) -> None:
        file = self.repos[repo] / path
        if not file.is_file():
            return self._send(req, 404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
        data = file.read_bytes()
        etag = f'"{hashlib.sha1(data).hexdigest()}"'
        headers = {"X-Repo-Commit": COMMIT, "ETag": etag, "Accept-Ranges": "bytes"}
        status, rng = 200, req.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, end_s = rng[6:].split("-")
            start = int(start_s)
            end = min(int(end_s) if end_s else len(data) - 1, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(req, status, data if body else b"", headers, length=len(data))

    # --- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def _entry(self, root: Path, rel: str) -> dict:
        p = root / rel
        if p.is_dir():
            return {"type": "directory", "path": rel, "oid": COMMIT}
        data = p.read_bytes()
        return {"type": "file", "path": rel, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}

    def _tree(self, root: Path, prefix: str, recursive: bool) -> list[dict]:
        base = root / prefix if prefix else root
        found = base.rglob("*") if recursive else base.iterdir()
        return [self._entry(root, str(p.relative_to(root))) for p in sorted(found)]

    def _json(self, req: http.server.BaseHTTPRequestHandler, obj: object) -> None:
        self._send(req, 200, json.dumps(obj).encode(), {"Content-Type": "application/json", "X-Repo-Commit": COMMIT})

    @staticmethod
    def _send(req, status: int, data: bytes, headers: dict, *, length: int | None = None) -> None:
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        req.send_header("Content-Length", str(len(data) if length is None else length))
        req.end_headers()
        if data and req.command != "HEAD":
            req.wfile.write(data)
