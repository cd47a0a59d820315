"""Dataset catalog and format registry: registered names, ANNOTATIONS_JSON:IMAGE_DIR specs, the format factory,
a format registered from this file (CONTRIBUTING's worked example) and their errors."""

import json

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from typer.testing import CliRunner

from ktn_cli.ktn import app
from ktn_model.config import get_cfg
from ktn_model.data.catalog import CATALOG, DATASET_FORMATS, CatalogEntry, build_dataset, register_dataset, resolve
from ktn_model.data.dataset import DensePoseCocoDataset
from ktn_model.data.loader import build_test_loader, build_train_loader
from ktn_model.data.meta import DP_FRAME


def test_registered_names_use_the_coco_layout(tmp_path):
    (tmp_path / "coco/annotations").mkdir(parents=True)
    (tmp_path / "coco/val2014").mkdir()
    (tmp_path / "coco/annotations/densepose_minival2014.json").write_text("{}")
    spec = resolve("densepose_coco_2014_minival", tmp_path)
    assert spec.json_file == tmp_path / "coco/annotations/densepose_minival2014.json"
    assert spec.image_dir == tmp_path / "coco/val2014"
    assert {"densepose_coco_2014_train", "densepose_coco_2014_valminusminival",
            "densepose_coco_2014_minival_100"} <= set(CATALOG)  # fmt: skip
    assert resolve("densepose_coco_2014_train", tmp_path, check=False).image_dir == tmp_path / "coco/train2014"


def test_missing_registered_file_says_where_and_where_from(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        resolve("densepose_coco_2014_train", tmp_path)
    message = str(err.value)
    assert str(tmp_path / "coco/annotations/densepose_train2014.json") in message
    assert "dl.fbaipublicfiles.com/densepose" in message and "images.cocodataset.org" in message


def test_path_spec(tmp_path):
    (tmp_path / "ann.json").write_text("{}")
    (tmp_path / "imgs").mkdir()
    spec = resolve(f"{tmp_path}/ann.json:{tmp_path}/imgs")
    assert spec.json_file == tmp_path / "ann.json" and spec.image_dir == tmp_path / "imgs"
    with pytest.raises(FileNotFoundError, match="image directory"):
        resolve(f"{tmp_path}/ann.json:{tmp_path}/nothing")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        resolve(f"{tmp_path}/nope.json:{tmp_path}/imgs")


def test_unknown_name_lists_the_registered_ones():
    with pytest.raises(KeyError, match="densepose_coco_2014_minival"):
        resolve("densepose_coco_2017_val")


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", r"ann\.json: not valid JSON"), ("[1, 2]", r"ann\.json: not a COCO annotation file")],
)
def test_bad_annotation_file_is_one_line_error_naming_it(tmp_path, text, message):
    (tmp_path / "ann.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        DensePoseCocoDataset(resolve(f"{tmp_path}/ann.json:{tmp_path}"))


def test_ultrapose_is_a_catalog_entry_of_the_coco_format(tmp_path):
    train = resolve("densepose_ultrapose_train", tmp_path, check=False)
    minival = resolve("densepose_ultrapose_minival", tmp_path, check=False)
    assert (train.json_file, train.image_dir) == (tmp_path / "ultrapose/annotations/densepose_train2014.json",
                                                  tmp_path / "ultrapose/train2014")  # fmt: skip
    assert minival.json_file == tmp_path / "ultrapose/annotations/densepose_valminusminival2014.json"
    assert minival.image_dir == tmp_path / "ultrapose/val2014"
    assert train.format == minival.format == "densepose_coco"


def test_the_factory_builds_the_format_of_the_spec(synth_dir):
    spec = resolve(f"{synth_dir}/annotations.json:{synth_dir}/images")
    assert spec.format == "densepose_coco" and "densepose_coco" in DATASET_FORMATS
    dataset = build_dataset(spec)
    assert isinstance(dataset, DensePoseCocoDataset) and dataset.spec == spec
    assert len(build_dataset(spec, train=True)) <= len(dataset)


def test_unknown_format_lists_the_registered_ones(synth_dir):
    spec = resolve(f"{synth_dir}/annotations.json:{synth_dir}/images")
    with pytest.raises(ValueError, match=r"dataset format 'lvis' is not registered; registered: densepose_coco"):
        build_dataset(type(spec)(spec.name, spec.json_file, spec.image_dir, "lvis"))


def test_unknown_dataset_name_in_a_command_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["train", "--config-file", "ktn_tiny_cpu.yaml", "DATASETS.TRAIN",
                                      "['densepose_coco_2017_val']", "OUTPUT_DIR", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: unknown dataset 'densepose_coco_2017_val'")
    assert "densepose_ultrapose_minival" in result.stderr


def _on_512_canvas(dp_masks: list) -> list:
    """The same part masks on a 512 grid (each 256-grid pixel a 2x2 block)."""
    out = []
    for rle in dp_masks:
        if not rle:
            out.append([])
            continue
        big = np.repeat(np.repeat(mask_utils.decode(rle), 2, axis=0), 2, axis=1)
        enc = mask_utils.encode(np.asfortranarray(big))
        out.append({"counts": enc["counts"].decode("ascii"), "size": [2 * DP_FRAME, 2 * DP_FRAME]})
    return out


# CONTRIBUTING.md, "How to add a dataset format": the worked example, registered from this test file.
class DensePose512Dataset(DensePoseCocoDataset):
    """DensePose-COCO json whose dp_masks RLEs lie on a 512 x 512 grid over the box."""

    MASK_CANVAS = 512

    def part_labels(self, ann: dict) -> np.ndarray:
        labels = np.zeros((self.MASK_CANVAS, self.MASK_CANVAS), np.uint8)
        for k, rle in enumerate(ann["dp_masks"], start=1):
            if rle:
                labels[mask_utils.decode(rle) > 0] = k
        keep = np.arange(DP_FRAME) * self.MASK_CANVAS // DP_FRAME  # nearest sample of the 256 grid
        return labels[np.ix_(keep, keep)]


@pytest.fixture
def format_512(synth_dir, tmp_path):
    data = json.loads((synth_dir / "annotations.json").read_text())
    for ann in data["annotations"]:
        if "dp_masks" in ann:
            ann["dp_masks"] = _on_512_canvas(ann["dp_masks"])
    (tmp_path / "ann512.json").write_text(json.dumps(data))
    DATASET_FORMATS.register("densepose_coco_512")(DensePose512Dataset)
    register_dataset("synth_512", CatalogEntry("ann512.json", str(synth_dir / "images"), "densepose_coco_512"))
    yield tmp_path
    DATASET_FORMATS.unregister("densepose_coco_512")
    del CATALOG["synth_512"]


def test_a_format_registered_in_one_file_feeds_the_loaders(format_512, synth_dir):
    cfg = get_cfg()
    cfg.DATASETS.ROOT, cfg.DATASETS.TRAIN = str(format_512), ["synth_512"]
    cfg.SOLVER.IMS_PER_BATCH, cfg.DATALOADER.NUM_WORKERS = 2, 0
    cfg.INPUT.UV_SYMMETRY_FILE = str(synth_dir / "UV_symmetry_transforms.mat")
    images, targets = next(iter(build_train_loader(cfg)))
    assert len(images) == 2 and all(t["dp_masks"].shape[1:] == (DP_FRAME, DP_FRAME) for t in targets)
    loader = build_test_loader(cfg, "synth_512")
    assert isinstance(loader.dataset, DensePose512Dataset)
    plain = DensePoseCocoDataset(resolve(f"{synth_dir}/annotations.json:{synth_dir}/images"))
    for index in range(len(plain)):  # nearest sampling of the 2x2 blocks gives back the 256-grid S_gt exactly
        assert torch.equal(loader.dataset.target(index)["dp_masks"], plain.target(index)["dp_masks"])


def test_a_mask_canvas_the_format_does_not_read_is_one_line(format_512):
    spec = resolve(f"{format_512}/ann512.json:{format_512}")
    with pytest.raises(ValueError, match=r"ann512\.json: annotation \d+: dp_masks entry \d+ has size \[512, 512\]; "
                                         r"this dataset format reads 256x256"):  # fmt: skip
        build_dataset(spec)
