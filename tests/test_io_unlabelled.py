"""Data without labels: load_nodule_dataset(labels="optional"), and the labelled
path keeps refusing what it refused."""

import numpy as np
import pytest

from skradnod.base._nrrd import declared_spacing
from skradnod.io import load_nodule_dataset, write_nrrd


def _pairs(root, names, *, spacing=None, layout="suffixes"):
    for i, name in enumerate(names):
        full = np.full((16, 16), i, np.int16)
        crop = np.full((6, 6), i, np.int16)
        if layout == "suffixes":
            write_nrrd(root / f"{name}_full.nrrd", full, spacing=spacing)
            write_nrrd(root / f"{name}_nodule.nrrd", crop, spacing=spacing)
        else:
            write_nrrd(root / "full" / f"{name}.nrrd", full, spacing=spacing)
            write_nrrd(root / "nodule" / f"{name}.nrrd", crop, spacing=spacing)
    return root


@pytest.mark.parametrize("layout", ["suffixes", "full-nodule"])
def test_a_folder_of_pairs_without_labels_reads_when_labels_are_optional(
    tmp_path, layout
):
    _pairs(tmp_path, ["b", "a", "c"], layout=layout)
    # The labelled path still refuses it (no labels.csv).
    with pytest.raises(FileNotFoundError, match="no class folders 1-5 and no labels"):
        load_nodule_dataset(tmp_path)
    data = load_nodule_dataset(tmp_path, labels="optional")
    assert data.target is None and data.groups is None
    assert data.layout == layout
    assert data.ids.tolist() == ["a", "b", "c"]
    # Each pair is its own files: the pixel values say which pair it is.
    assert [int(im[0, 0]) for im in data.nodule] == [1, 0, 2]
    assert data.files.loc["b", "full"].endswith(
        "b_full.nrrd" if layout == "suffixes" else "full/b.nrrd"
    )


def test_a_manifest_without_malignancy_reads_when_labels_are_optional(tmp_path):
    _pairs(tmp_path, ["x", "y"])
    (tmp_path / "manifest.csv").write_text(
        "id,full,nodule,patient_id\n"
        "0007,y_full.nrrd,y_nodule.nrrd,p1\n"
        "0001,x_full.nrrd,x_nodule.nrrd,p2\n"
    )
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['malignancy'\]"):
        load_nodule_dataset(tmp_path)
    data = load_nodule_dataset(tmp_path, labels="optional")
    # The manifest's order and ids as written.
    assert data.ids.tolist() == ["0007", "0001"]
    assert data.groups.tolist() == ["p1", "p2"]
    assert data.target is None
    assert int(data.full[0][0, 0]) == 1


@pytest.mark.parametrize("cell", ["", "6", "three", "2.5"])
def test_a_label_column_that_is_there_is_still_checked(tmp_path, cell):
    _pairs(tmp_path, ["x", "y"])
    (tmp_path / "manifest.csv").write_text(
        "id,full,nodule,malignancy\n"
        f"x,x_full.nrrd,x_nodule.nrrd,{cell}\n"
        "y,y_full.nrrd,y_nodule.nrrd,4\n"
    )
    for labels in ("required", "optional"):
        with pytest.raises(ValueError, match="malignancy must be an integer 1-5"):
            load_nodule_dataset(tmp_path, labels=labels)


def test_labels_csv_without_malignancy_gives_patients_of_unlabelled_pairs(tmp_path):
    _pairs(tmp_path, ["x", "y"])
    (tmp_path / "labels.csv").write_text("name,patient_id\nx,p9\ny,p9\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['malignancy'\]"):
        load_nodule_dataset(tmp_path)
    data = load_nodule_dataset(tmp_path, labels="optional")
    assert data.target is None and data.groups.tolist() == ["p9", "p9"]
    assert data.layout == "suffixes+labels.csv"


def test_a_labels_csv_must_still_list_every_pair(tmp_path):
    _pairs(tmp_path, ["x", "y"])
    (tmp_path / "labels.csv").write_text("name,malignancy\nx,2\n")
    for labels in ("required", "optional"):
        with pytest.raises(ValueError, match="y: no label in labels.csv"):
            load_nodule_dataset(tmp_path, labels=labels)
    (tmp_path / "labels.csv").write_text("name,patient_id\nx,p1\n")
    with pytest.raises(ValueError, match="y: no row in labels.csv"):
        load_nodule_dataset(tmp_path, labels="optional")


def test_a_labels_csv_with_a_bad_label_is_an_error_when_optional(tmp_path):
    _pairs(tmp_path, ["x", "y"])
    (tmp_path / "labels.csv").write_text("name,malignancy\nx,2\ny,9\n")
    with pytest.raises(ValueError, match="malignancy must be an integer 1-5"):
        load_nodule_dataset(tmp_path, labels="optional")


def test_unknown_labels_mode_is_refused(tmp_path):
    _pairs(tmp_path, ["x"])
    with pytest.raises(ValueError, match="labels must be one of"):
        load_nodule_dataset(tmp_path, labels="maybe")


def test_declared_spacing_reads_the_header_only(tmp_path):
    write_nrrd(tmp_path / "a.nrrd", np.zeros((3, 4), np.int16), spacing=(0.7, 0.6))
    write_nrrd(tmp_path / "b.nrrd", np.zeros((3, 4), np.int16))
    assert declared_spacing(tmp_path / "a.nrrd") == (0.7, 0.6)
    # read_nrrd says (1, 1) for a file without spacing; the header declares none.
    assert declared_spacing(tmp_path / "b.nrrd") is None


def test_model_metadata_round_trips_and_is_checked(tmp_path):
    from sklearn.dummy import DummyClassifier

    from skradnod.persistence import load_model, read_model_metadata, save_model

    model = DummyClassifier().fit(np.zeros((4, 1)), [1, 2, 2, 5])
    path = tmp_path / "m.skradnod"
    save_model(model, path)
    assert read_model_metadata(path) is None
    card = {"key": "nodule/majority", "contract": {"nodule": {"value_min": -3.5}}}
    save_model(model, path, metadata=card)
    assert read_model_metadata(path) == card
    assert load_model(path).predict(np.zeros((1, 1))).tolist() == [2]
    for bad in ({"x": np.float32(1)}, {"x": float("nan")}, ["not", "a", "dict"]):
        with pytest.raises(TypeError, match="metadata"):
            save_model(model, tmp_path / "bad.skradnod", metadata=bad)
    assert not (tmp_path / "bad.skradnod").exists()
    (tmp_path / "x.skradnod").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a skradnod model file"):
        read_model_metadata(tmp_path / "x.skradnod")
