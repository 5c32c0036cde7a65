"""A small local HTTP stand-in for the Hugging Face Hub API, for push/pull round trips in tests.

It implements what huggingface_hub's create_repo, upload_folder (regular, non-LFS uploads),
repo_info, list_repo_tree, hf_hub_download and snapshot_download use, for model and dataset repos
(a dataset repo is kept under "datasets/{id}"): repos live in memory, each commit replaces or adds
files and gets a new 40-hex sha. Written by hand because huggingface_hub ships no test server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

KINDS = {"models": "", "datasets": "datasets/"}
"""The API's repo kinds and the prefix of their repos' keys here."""


class HubState:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}
        self.lock = threading.Lock()

    def create(self, repo_id: str) -> None:
        with self.lock:
            if repo_id not in self.repos:
                sha = hashlib.sha1(f"init {repo_id}".encode()).hexdigest()
                self.repos[repo_id] = {"sha": sha, "files": {}}

    def commit(self, repo_id: str, files: dict[str, bytes], message: str) -> str:
        with self.lock:
            repo = self.repos[repo_id]
            repo["files"].update(files)
            repo["sha"] = hashlib.sha1((repo["sha"] + message + str(sorted(files))).encode()).hexdigest()
            return repo["sha"]


class _Handler(BaseHTTPRequestHandler):
    state: HubState
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # ---- helpers ----
    def _json(self, data, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has headers only
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        self._json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message})

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _repo(self, repo_id: str):
        return self.state.repos.get(repo_id)

    # ---- routes ----
    def do_POST(self) -> None:
        path = urlparse(self.path).path
        body = self._body()
        if path == "/api/repos/create":
            data = json.loads(body)
            repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
            self.state.create(f"datasets/{repo_id}" if data.get("type") == "dataset" else repo_id)
            return self._json({"url": f"http://{self.headers['Host']}/{repo_id}", "name": repo_id, "id": repo_id})
        if path == "/api/validate-yaml":  # the README's YAML header must parse to a mapping
            import yaml

            content = json.loads(body)["content"]
            try:
                header = content.split("---")[1] if content.startswith("---") else ""
                ok = isinstance(yaml.safe_load(header) or {}, dict)
            except yaml.YAMLError:
                ok = False
            if not ok:
                return self._json({"errors": [{"message": "invalid YAML header"}]}, 400)
            return self._json({"errors": [], "warnings": []})
        parts = path.split("/")
        # /api/models/{org}/{name}/preupload/{rev}  or  /commit/{rev}
        if len(parts) >= 7 and parts[1] == "api" and parts[2] in KINDS:
            repo_id, action = KINDS[parts[2]] + f"{parts[3]}/{parts[4]}", parts[5]
            if self._repo(repo_id) is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._json(
                    {
                        "files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files],
                        "commitOid": self._repo(repo_id)["sha"],
                    }
                )
            if action == "commit":
                files, message = {}, ""
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "header":
                        message = item["value"].get("summary", "")
                    elif item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                sha = self.state.commit(repo_id, files, message)
                return self._json(
                    {
                        "commitUrl": f"http://{self.headers['Host']}/{repo_id}/commit/{sha}",
                        "commitOid": sha,
                        "pullRequestUrl": None,
                        "success": True,
                    }
                )
        self._error(404, "NotFound", f"no route POST {path}")

    def do_HEAD(self) -> None:
        self._resolve(head=True)

    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        parts = parsed.path.split("/")
        if len(parts) >= 6 and parts[1] == "api" and parts[2] in KINDS:
            repo_id = KINDS[parts[2]] + f"{parts[3]}/{parts[4]}"
            repo = self._repo(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            if parts[5] == "revision":
                return self._json(
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": repo["sha"],
                        "private": False,
                        "siblings": [{"rfilename": f} for f in sorted(repo["files"])],
                    }
                )
            if parts[5] == "tree":  # /tree/{rev}[/{folder}]
                folder = unquote("/".join(parts[7:])).strip("/")
                prefix = folder + "/" if folder else ""
                listed = [(f, data) for f, data in sorted(repo["files"].items()) if f.startswith(prefix)]
                if folder and not listed:
                    return self._error(404, "EntryNotFound", f"{folder} not found in {repo_id}")
                return self._json(
                    [
                        {"type": "file", "path": f, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
                        for f, data in listed
                    ]
                )
        if len(parts) >= 3 and parts[1] == "api" and parts[2] == "models" and len(parts) == 5:
            repo = self._repo(f"{parts[3]}/{parts[4]}")
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            return self._json(
                {
                    "id": f"{parts[3]}/{parts[4]}",
                    "sha": repo["sha"],
                    "siblings": [{"rfilename": f} for f in sorted(repo["files"])],
                }
            )
        self._resolve(head=False)

    def _resolve(self, head: bool) -> None:
        parts = urlparse(self.path).path.split("/")
        # /{org}/{name}/resolve/{rev}/{path...}, or /datasets/{org}/{name}/resolve/...
        prefix = ""
        if len(parts) > 1 and parts[1] == "datasets":
            prefix, parts = "datasets/", parts[:1] + parts[2:]
        if len(parts) < 6 or parts[3] != "resolve":
            return self._error(404, "NotFound", f"no route {self.path}")
        repo_id, filename = prefix + f"{parts[1]}/{parts[2]}", unquote("/".join(parts[5:]))
        repo = self._repo(repo_id)
        if repo is None:
            return self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
        if filename not in repo["files"]:
            return self._error(404, "EntryNotFound", f"{filename} not found in {repo_id}")
        data = repo["files"][filename]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", repo["sha"])
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if not head:
            self.wfile.write(data)


class HubStub:
    """Run the stand-in on a free localhost port: ``with HubStub() as hub: hub.endpoint``."""

    def __init__(self) -> None:
        self.state = HubState()
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HubStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
