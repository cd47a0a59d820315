"""The zoo by name (docs/pretrained.md, "Model zoo") against a local HTTP server on 127.0.0.1 started here: a normal
download, a truncated one (resumed with a Range request), a wrong hash, a refusing server, no server at all, a
corrupt cached file, a file put there by hand; `ktn models`; `--weights zoo:NAME` picks the preset."""

import hashlib
import http.server
import threading

import numpy as np
import pytest
from golden import make_weights, write_detectron2_pkl
from PIL import Image
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.zoo import catalog
from ktn_model.zoo.cache import cached_path, checkpoint, resolve
from ktn_model.zoo.catalog import MODELS, ZooModel
from ktn_model.zoo.download import DownloadError

PAYLOAD = np.random.default_rng(0).bytes(3 * 2**20 + 123)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (URL path -> bytes) with Range support; ``mode``: "normal", "truncate_once" (the first
    response stops halfway, the later ones are whole), "truncate" (every response stops halfway), "refuse" (403)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files, self.mode, self.requests = {}, "normal", []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        if server.mode == "refuse":
            self.send_error(403, "Forbidden")
            return
        data = server.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = server.mode == "truncate" or (server.mode == "truncate_once" and len(server.requests) == 1)
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if cut:
            self.close_connection = True


@pytest.fixture
def server(monkeypatch, tmp_path):
    """A running server, the zoo pointed at it (KTN_ZOO_URL), the cache in tmp_path (KTN_CACHE), and a test model."""
    srv = Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    model = ZooModel("test/densepose_test_s1x", 7, f"model_final_{SHA[:6]}.pkl", 1.0, 2.0, 3.0, 10)
    srv.files[f"/{model.name}/{model.model_id}/{model.file}"] = PAYLOAD
    monkeypatch.setenv("KTN_ZOO_URL", srv.url)
    monkeypatch.setenv("KTN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog, "MODELS", (*MODELS, model))
    srv.model = model
    yield srv
    srv.shutdown()
    srv.server_close()


def _cache_files(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())


def test_a_normal_download_is_checked_recorded_and_used_from_the_cache(server, tmp_path):
    path = checkpoint("zoo:test/densepose_test_s1x")
    assert path == cached_path(server.model) and path.read_bytes() == PAYLOAD
    assert path.with_name(path.name + ".sha256").read_text().strip() == SHA
    assert checkpoint("test/densepose_test_s1x") == path and len(server.requests) == 1  # no second download
    assert _cache_files(tmp_path) == [server.model.file, server.model.file + ".sha256"]


def test_a_broken_transfer_resumes_with_a_range_request(server):
    server.mode = "truncate_once"
    assert checkpoint("zoo:test/densepose_test_s1x").read_bytes() == PAYLOAD
    (_, first), (_, second) = server.requests
    assert first is None and second == f"bytes={len(PAYLOAD) // 2}-"


def test_a_transfer_that_keeps_breaking_leaves_only_a_part_file_and_resumes_next_time(server, tmp_path):
    server.mode = "truncate"
    with pytest.raises(DownloadError, match="broke off at .* bytes after 3 attempts; run again to resume") as error:
        checkpoint("zoo:test/densepose_test_s1x")
    assert "\n" not in str(error.value) and "there by hand:" in str(error.value)
    assert _cache_files(tmp_path) == [server.model.file + ".part"]
    got = (tmp_path / "cache").rglob("*.part").__next__().stat().st_size
    server.mode, server.requests = "normal", []
    assert checkpoint("zoo:test/densepose_test_s1x").read_bytes() == PAYLOAD
    assert server.requests[0][1] == f"bytes={got}-" and _cache_files(tmp_path)[-1].endswith(".sha256")


def test_a_wrong_hash_keeps_nothing(server, tmp_path):
    server.files[next(iter(server.files))] = PAYLOAD[:-1] + b"x"
    with pytest.raises(DownloadError, match=f"corrupt download, sha256 .* does not start with {SHA[:6]}"):
        checkpoint("zoo:test/densepose_test_s1x")
    assert _cache_files(tmp_path) == []


def test_a_refusing_server_is_one_line_and_keeps_nothing(server, tmp_path):
    server.mode = "refuse"
    with pytest.raises(DownloadError, match=r"the server refused the download \(HTTP 403 Forbidden\)"):
        checkpoint("zoo:test/densepose_test_s1x")
    assert _cache_files(tmp_path) == []


def test_a_corrupt_cached_file_is_downloaded_again_or_refused_offline(server, tmp_path):
    path = checkpoint("zoo:test/densepose_test_s1x")
    path.write_bytes(b"broken" + PAYLOAD[6:])
    assert checkpoint("zoo:test/densepose_test_s1x").read_bytes() == PAYLOAD and len(server.requests) == 2
    path.write_bytes(b"broken" + PAYLOAD[6:])
    server.mode = "refuse"
    with pytest.raises(DownloadError, match="refused"):
        checkpoint("zoo:test/densepose_test_s1x")
    assert not path.exists()  # the corrupt file is not kept under the final name


def test_a_file_put_there_by_hand_is_checked_against_its_name_and_used(server):
    path = cached_path(server.model)
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    assert checkpoint("zoo:test/densepose_test_s1x") == path and server.requests == []


def test_no_server_says_where_to_put_the_file_by_hand_in_one_line(server, tmp_path, monkeypatch):
    monkeypatch.setenv("KTN_ZOO_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", "zoo:test/densepose_test_s1x",
                                   "--out", str(tmp_path / "out")])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: zoo:test/densepose_test_s1x: ")
    assert "cannot connect" in lines[0] and lines[0].endswith(f"there by hand: {cached_path(server.model)}")
    assert _cache_files(tmp_path) == [] and not (tmp_path / "out").exists()


def test_an_unknown_name_lists_close_names_and_models_lists_the_zoo(server, tmp_path):
    Image.new("RGB", (32, 32)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights",
                                   "zoo:densepose_rcnn_R_50_FPN_WC3M_s1x", "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1
    assert "not a model of the zoo; close names: densepose_rcnn_R_50_FPN_WC2M_s1x" in res.output
    listing = CliRunner().invoke(app, ["models"])
    assert listing.exit_code == 0 and len(listing.output.strip().splitlines()) == 1 + len(MODELS) + 1
    assert all(m.name in listing.output for m in MODELS)


def test_weights_zoo_name_downloads_once_and_picks_the_preset(server, tmp_path, monkeypatch):
    data = write_detectron2_pkl(make_weights("R_50_FPN_WC2M_s1x"), tmp_path / "wc2m.pkl").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    model = ZooModel("densepose_rcnn_R_50_FPN_WC2M_s1x", 216245640, f"model_final_{digest[:6]}.pkl", 0, 0, 0, 0)
    monkeypatch.setattr(catalog, "MODELS", (model,))
    server.files[f"/{model.name}/{model.model_id}/{model.file}"] = data
    path, preset = resolve("zoo:densepose_rcnn_R_50_FPN_WC2M_s1x")
    assert preset.name == "densepose_rcnn_R_50_FPN_WC2M_s1x.yaml" and path.read_bytes() == data
    Image.new("RGB", (48, 40)).save(tmp_path / "x.png")
    res = CliRunner().invoke(app, ["infer", str(tmp_path / "x.png"), "--weights", f"zoo:{model.name}",
                                   "--out", str(tmp_path / "out"), "--vis", "dp_uv_uncertainty", "MODEL.DEVICE", "cpu",
                                   "INPUT.MIN_SIZE_TEST", "96", "INPUT.MAX_SIZE_TEST", "128"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "out" / "x_conf.npz").is_file() and len(server.requests) == 1
