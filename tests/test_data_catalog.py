"""Dataset registry: registered names, ANNOTATIONS_JSON:IMAGE_DIR specs and their errors."""

import pytest

from ktn_model.data.catalog import REGISTRY, resolve
from ktn_model.data.dataset import DensePoseCocoDataset


def test_registered_names_use_the_coco_layout(tmp_path):
    (tmp_path / "coco/annotations").mkdir(parents=True)
    (tmp_path / "coco/val2014").mkdir()
    (tmp_path / "coco/annotations/densepose_minival2014.json").write_text("{}")
    spec = resolve("densepose_coco_2014_minival", tmp_path)
    assert spec.json_file == tmp_path / "coco/annotations/densepose_minival2014.json"
    assert spec.image_dir == tmp_path / "coco/val2014"
    assert {"densepose_coco_2014_train", "densepose_coco_2014_valminusminival",
            "densepose_coco_2014_minival_100"} <= set(REGISTRY)  # fmt: skip
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
