"""Tests of data set folders without a manifest (skradnod.io._layouts)."""

import numpy as np
import pandas as pd
import pytest

from skradnod.cli import main
from skradnod.io import load_nodule_dataset, write_nrrd
from skradnod.io._layouts import UnusedFilesWarning, infer_manifest

# name -> (label, patient); each image's pixels hold the pair's number, so a
# mix-up of files shows.
PAIRS = {"p01": (1, "A"), "p02": (3, "A"), "p03": (5, "B"), "p04": (2, "C")}


def _images(i):
    full = np.full((512, 512), i, np.int16)
    nodule = np.full((30 + i, 40), 100 + i, np.int16)
    return full, nodule


def _write(root, layout, pairs=PAIRS, labels_csv=None):
    for i, (name, (label, _)) in enumerate(sorted(pairs.items())):
        full, nodule = _images(i)
        if layout == "class-folders":
            paths = (f"{label}/{name}_full.nrrd", f"{label}/{name}_nodule.nrrd")
        elif layout == "full-nodule-class-folders":
            paths = (f"full/{label}/{name}.nrrd", f"nodule/{label}/{name}.nrrd")
        elif layout == "suffixes+labels.csv":
            paths = (f"{name}_full.nrrd", f"{name}_nodule.nrrd")
        else:
            paths = (f"full/{name}.nrrd", f"nodule/{name}.nrrd")
        write_nrrd(root / paths[0], full, 0.7)
        write_nrrd(root / paths[1], nodule, 0.7)
    if labels_csv is None:
        labels_csv = "labels.csv" in layout
    if labels_csv:
        pd.DataFrame(
            [{"name": n, "malignancy": lab, "patient_id": pat, "note": f"n{n}"}
             for n, (lab, pat) in pairs.items()]
        ).to_csv(root / "labels.csv", index=False)


LAYOUTS = ["class-folders", "full-nodule-class-folders", "suffixes+labels.csv",
           "full-nodule+labels.csv"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_reads_pairs_and_labels(tmp_path, layout):
    _write(tmp_path, layout)
    data = load_nodule_dataset(tmp_path)
    assert data.layout == layout
    names = sorted(PAIRS)
    assert list(data.ids) == names
    assert data.target.tolist() == [PAIRS[n][0] for n in names]
    for i in range(len(names)):
        full, nodule = _images(i)
        np.testing.assert_array_equal(data.full[i], full)
        np.testing.assert_array_equal(data.nodule[i], nodule)
    if "labels.csv" in layout:
        assert data.groups.tolist() == [PAIRS[n][1] for n in names]
        assert data.frame["note"].tolist() == [f"n{n}" for n in names]
    else:
        assert data.groups is None
    lazy = load_nodule_dataset(tmp_path, lazy=True)
    assert all(p.endswith(".nrrd") for p in lazy.full)


def test_class_folders_with_labels_csv_add_patients(tmp_path):
    _write(tmp_path, "class-folders", labels_csv=True)
    data = load_nodule_dataset(tmp_path)
    assert data.groups.tolist() == [PAIRS[n][1] for n in sorted(PAIRS)]


def test_problems_are_listed_in_one_error(tmp_path):
    pairs = {f"x{i:02d}": (1 + i % 5, "P") for i in range(14)}
    _write(tmp_path, "full-nodule+labels.csv", pairs)
    labels = pd.read_csv(tmp_path / "labels.csv")
    # 12 problems: 5 pairs without a label, 3 crops without a slice, 2 slices
    # without a crop, 2 labels naming no pair.
    labels = labels.iloc[5:]
    labels = pd.concat([labels, pd.DataFrame(
        {"name": ["ghost1", "ghost2"], "malignancy": [2, 2], "patient_id": "P"}
    )])
    labels.to_csv(tmp_path / "labels.csv", index=False)
    for name in ("x05", "x06", "x07"):
        (tmp_path / "full" / f"{name}.nrrd").unlink()
    for name in ("x08", "x09"):
        (tmp_path / "nodule" / f"{name}.nrrd").unlink()
    with pytest.raises(ValueError) as info:
        load_nodule_dataset(tmp_path)
    message = str(info.value)
    assert "12 problem(s)" in message and "... and 2 more" in message
    assert "x00: no label in labels.csv" in message
    assert "x05: no full slice (nodule/x05.nrrd)" in message
    assert "x08: no nodule crop (full/x08.nrrd)" in message
    assert "\n" not in message


def test_class_folder_problems(tmp_path):
    _write(tmp_path, "class-folders", labels_csv=True)
    write_nrrd(tmp_path / "7" / "q_full.nrrd", np.zeros((4, 4)))
    write_nrrd(tmp_path / "3" / "odd.nrrd", np.zeros((4, 4)))
    write_nrrd(tmp_path / "loose_full.nrrd", np.zeros((4, 4)))
    labels = pd.read_csv(tmp_path / "labels.csv")
    labels.loc[labels["name"] == "p02", "malignancy"] = 4
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match="4 problem") as info:
        infer_manifest(tmp_path)
    message = str(info.value)
    assert "7/: not a class folder" in message
    assert "3/odd.nrrd: name ends neither in _full nor in _nodule" in message
    assert "loose_full.nrrd: outside a class folder" in message
    assert "p02: class folder 3 but labels.csv says 4" in message


def test_folders_of_no_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="no known layout"):
        load_nodule_dataset(tmp_path)
    _write(tmp_path, "suffixes+labels.csv", labels_csv=False)
    with pytest.raises(FileNotFoundError, match="no class folders 1-5 and no labels"):
        load_nodule_dataset(tmp_path)
    pd.DataFrame({"name": ["p01"], "label": [1]}).to_csv(tmp_path / "labels.csv")
    with pytest.raises(ValueError, match="lacks column"):
        load_nodule_dataset(tmp_path)
    pd.DataFrame({"name": sorted(PAIRS), "malignancy": [1, 2, 9, 3]}).to_csv(
        tmp_path / "labels.csv", index=False
    )
    with pytest.raises(ValueError, match="labels.csv.*malignancy must be"):
        load_nodule_dataset(tmp_path)


def test_make_manifest_writes_what_was_inferred(tmp_path, capsys):
    _write(tmp_path, "full-nodule-class-folders")
    assert main(["make-manifest", str(tmp_path)]) == 0
    assert "Layout full-nodule-class-folders: 4 pairs" in capsys.readouterr().out
    manifest = pd.read_csv(tmp_path / "manifest.csv")
    assert manifest["full"].tolist() == [
        f"full/{PAIRS[n][0]}/{n}.nrrd" for n in sorted(PAIRS)
    ]
    data = load_nodule_dataset(tmp_path)
    assert data.layout == "manifest.csv"
    assert data.target.tolist() == [PAIRS[n][0] for n in sorted(PAIRS)]
    assert main(["make-manifest", str(tmp_path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["make-manifest", str(tmp_path), "--force"]) == 0
    assert main(["make-manifest", str(tmp_path / "none")]) == 2
    assert "not found" in capsys.readouterr().err


def test_reproduce_runs_on_a_folder_layout(tmp_path, capsys):
    import json
    import shutil

    from skradnod.datasets import make_lidc_cohort

    cohort = make_lidc_cohort(tmp_path / "cohort", n_samples=24, lazy=True)
    root = tmp_path / "layout"
    manifest = cohort.manifest
    for _, row in manifest.iterrows():
        folder = root / str(row["malignancy"])
        folder.mkdir(parents=True, exist_ok=True)
        for kind in ("full", "nodule"):
            shutil.copy(tmp_path / "cohort" / row[kind],
                        folder / f"{row['id']}_{kind}.nrrd")
    # labels.csv adds the patients and the ratings the oracle row needs.
    labels = manifest.drop(columns=["full", "nodule"]).rename(columns={"id": "name"})
    labels.to_csv(root / "labels.csv", index=False)
    out = tmp_path / "res"
    assert main(["reproduce", str(root), "--rows", "majority,semantic_oracle",
                 "--task", "binary", "--preset", "quick", "--cv", "3",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "read the folder layout class-folders" in printed
    n_patients = manifest["patient_id"].nunique()
    assert f"24 pairs from {n_patients} patients" in printed
    rows = {r["key"]: r for r in json.loads((out / "results.json").read_text())["rows"]}
    binary = (manifest["malignancy"] >= 4).astype(int).to_numpy()
    share = np.bincount(binary).max() / len(binary)
    assert rows["nodule/majority"]["accuracy"] == pytest.approx(share)
    assert rows["nodule/semantic_oracle"]["status"] == "ok"


def test_own_data_page_example_runs(capsys):
    # The folder-layout example of docs/own_data.rst prints what it says.
    import re
    from pathlib import Path

    page = (Path(__file__).parent.parent / "docs" / "own_data.rst").read_text()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", page)
    example = next(b for b in blocks if "load_nodule_dataset(root)" in b)
    code = "\n".join(line[3:] for line in example.splitlines())
    exec(compile(code, "own_data.rst", "exec"), {})
    expected = re.search(r"# (class-folders .*)", code).group(1)
    assert capsys.readouterr().out.strip() == expected


# Ids and patients as written: pandas would read "0001" as 1 and merge the
# patients "007" and "7" into one group.
ZERO_PADDED = {"0001": (1, "007"), "0002": (3, "7"), "10": (5, "007"), "NA": (2, "07")}


def test_ids_and_patients_are_read_exactly_as_written(tmp_path):
    _write(tmp_path, "suffixes+labels.csv", pairs=ZERO_PADDED)
    data = load_nodule_dataset(tmp_path)
    assert sorted(data.ids) == sorted(ZERO_PADDED)
    by_id = dict(zip(data.ids, data.groups))
    assert by_id == {n: pat for n, (_, pat) in ZERO_PADDED.items()}
    # Three patients, not two: "007" and "7" are different people.
    assert len(set(data.groups)) == 3


def test_make_manifest_output_round_trips_through_reproduce(tmp_path, capsys):
    import json

    _write(tmp_path, "suffixes+labels.csv", pairs=ZERO_PADDED)
    assert main(["make-manifest", str(tmp_path)]) == 0
    data = load_nodule_dataset(tmp_path)
    assert data.layout == "manifest.csv"
    assert sorted(data.ids) == sorted(ZERO_PADDED)
    out = tmp_path / "res"
    assert main(["reproduce", str(tmp_path), "--rows", "majority", "--task",
                 "binary", "--preset", "quick", "--cv", "2", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert rows[0]["status"] == "ok"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"id,full,nodule,malignancy\n", "header but no rows"),
        ("id,full,nodule,malignancy\na,f,n,1\n".encode("utf-16"), "not a UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xd8", "not a UTF-8"),
        (b"id,full,nodule,malignancy\na,f,n,1\nb,f,n,2,extra\n",
         r"row 3 \(the header is row 1\): 5 cell"),
        (b"id,full,nodule,malignancy\na,f,n\n", r"row 2 \(the header is row 1\): 3"),
    ],
    ids=["empty", "header-only", "utf-16", "binary", "long-row", "short-row"],
)
def test_bad_manifests_name_the_file(tmp_path, content, message):
    (tmp_path / "manifest.csv").write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        load_nodule_dataset(tmp_path)
    assert "manifest.csv" in str(info.value)


def test_bad_labels_csv_names_the_file(tmp_path):
    _write(tmp_path, "suffixes+labels.csv")
    (tmp_path / "labels.csv").write_bytes(b"name,malignancy\np01,1,2\n")
    with pytest.raises(ValueError, match=r"labels\.csv', row 2"):
        load_nodule_dataset(tmp_path)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_manifest_paths_outside_the_folder_are_refused(tmp_path, kind, capsys):
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    _write(root, "full-nodule+labels.csv")
    write_nrrd(elsewhere / "secret.nrrd", np.full((30, 40), 7, np.int16))
    target = elsewhere / "secret.nrrd"
    # Inferred before the link is made (the layout would list it as unused).
    manifest = infer_manifest(root)
    if kind == "dotdot":
        rel = "../elsewhere/secret.nrrd"
    elif kind == "absolute":
        rel = str(target)
    else:
        (root / "link.nrrd").symlink_to(target)
        rel = "link.nrrd"
    manifest.loc[0, "nodule"] = rel
    manifest.to_csv(root / "manifest.csv", index=False)
    first = manifest.loc[0, "id"]
    with pytest.raises(ValueError, match=f"row id='{first}': nodule path .*"
                       "outside the data folder") as info:
        load_nodule_dataset(root)
    assert "allow_outside=True" in str(info.value)
    assert main(["reproduce", str(root), "--rows", "majority", "--preset", "quick",
                 "--out", str(tmp_path / "res"), "--quiet"]) == 2
    assert "outside the data folder" in capsys.readouterr().err
    # Opting in reads it, and says so.
    data = load_nodule_dataset(root, allow_outside=True)
    assert data.outside_paths == [str(target.resolve())]
    np.testing.assert_array_equal(data.nodule[0], np.full((30, 40), 7))


def test_allow_outside_is_reported(tmp_path, capsys):
    import json

    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    _write(root, "full-nodule+labels.csv",
           pairs={f"p{i}": (1 if i % 2 else 5, f"P{i}") for i in range(8)})
    write_nrrd(elsewhere / "x.nrrd", np.full((30, 40), 7, np.int16))
    manifest = infer_manifest(root)
    manifest.loc[0, "nodule"] = "../elsewhere/x.nrrd"
    manifest.to_csv(root / "manifest.csv", index=False)
    out = tmp_path / "res"
    assert main(["reproduce", str(root), "--rows", "majority", "--task", "binary",
                 "--preset", "quick", "--cv", "2", "--out", str(out), "--quiet",
                 "--allow-outside"]) == 0
    assert "1 file(s) read from outside" in capsys.readouterr().err
    context = json.loads((out / "results.json").read_text())["context"]
    assert "1 file(s) read from outside the data folder" in context["data"]
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {r["status"] for r in rows} == {"ok"}
    assert "outside the data folder" in (out / "results.md").read_text()


def test_macos_appledouble_files_are_not_pairs(tmp_path):
    _write(tmp_path, "suffixes+labels.csv")
    for name in PAIRS:
        for kind in ("full", "nodule"):
            (tmp_path / f"._{name}_{kind}.nrrd").write_bytes(b"\x00\x05\x16\x07")
    # A hidden folder (a git checkout, the Trash) is not looked into.
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x_full.nrrd").write_bytes(b"not an image")
    with pytest.warns(UnusedFilesWarning) as caught:
        data = load_nodule_dataset(tmp_path)
    assert sorted(data.ids) == sorted(PAIRS)
    # Not taken as pairs, and not dropped silently either: listed as hidden.
    assert len(caught) == 1
    hidden = {f"._{n}_{k}.nrrd" for n in PAIRS for k in ("full", "nodule")}
    assert set(caught[0].message.files) == hidden
    assert "hidden files" in str(caught[0].message)


def _small_pair(root, full, nodule, value=0):
    write_nrrd(root / full, np.full((16, 16), value, np.int16))
    write_nrrd(root / nodule, np.full((8, 8), value, np.int16))


@pytest.mark.parametrize(
    "layout, nested",
    [
        ("class-folders", ["2/sub/b_full.nrrd", "2/sub/b_nodule.nrrd",
                           "3/deep/er/c_full.nrrd", "3/deep/er/c_nodule.nrrd"]),
        ("suffixes+labels.csv", ["sub/b_full.nrrd", "sub/b_nodule.nrrd",
                                 "full/c.nrrd"]),
        ("full-nodule-class-folders", ["full/1/s/b.nrrd", "nodule/1/s/b.nrrd",
                                       "stray.nrrd"]),
        ("full-nodule+labels.csv", ["extra/b.nrrd", "x.nrrd"]),
    ],
)
def test_files_a_layout_does_not_read_are_listed_in_one_warning(
    tmp_path, layout, nested
):
    # main read 1 of 3 pairs (class folders) without a word.
    first = {
        "class-folders": ("2/a_full.nrrd", "2/a_nodule.nrrd"),
        "suffixes+labels.csv": ("a_full.nrrd", "a_nodule.nrrd"),
        "full-nodule-class-folders": ("full/1/a.nrrd", "nodule/1/a.nrrd"),
        "full-nodule+labels.csv": ("full/a.nrrd", "nodule/a.nrrd"),
    }[layout]
    _small_pair(tmp_path, *first)
    for rel in nested:
        write_nrrd(tmp_path / rel, np.zeros((8, 8), np.int16))
    # A detached header: not paired by a layout, listed too.
    (tmp_path / "notes.nhdr").write_text("NRRD0004\n")
    if "labels.csv" in layout:
        (tmp_path / "labels.csv").write_text("name,malignancy\na,2\n")
    with pytest.warns(UnusedFilesWarning) as caught:
        manifest = infer_manifest(tmp_path)
    assert manifest.attrs["layout"] == layout
    assert manifest["id"].tolist() == ["a"]
    assert len(caught) == 1
    files = caught[0].message.files
    assert files == manifest.attrs["unused"]
    assert sorted(files) == sorted([*nested, "notes.nhdr"])
    message = str(caught[0].message)
    assert all(rel in message for rel in files)
    assert f"layout {layout} reads only" in message
    assert ".nhdr headers" in files["notes.nhdr"]
    assert str(tmp_path) not in "".join(files)  # relative to the root


def test_a_layout_reading_every_file_warns_nothing(tmp_path, recwarn):
    _write(tmp_path, "class-folders")
    assert len(infer_manifest(tmp_path)) == len(PAIRS)
    assert not [w for w in recwarn if w.category is UnusedFilesWarning]


@pytest.mark.parametrize(
    "other, files, reading",
    [
        ("class folders", ["2/b_full.nrrd", "2/b_nodule.nrrd"], "class-folders (2/)"),
        ("suffixed files", ["b_full.nrrd", "b_nodule.nrrd"],
         "suffixes+labels.csv (2 file(s) such as b_full.nrrd at the top)"),
    ],
)
def test_two_readings_of_a_folder_are_an_error_naming_both(
    tmp_path, other, files, reading
):
    # main read full/ and nodule/ and dropped the other pairs silently.
    _small_pair(tmp_path, "full/a.nrrd", "nodule/a.nrrd")
    _small_pair(tmp_path, *files)
    (tmp_path / "labels.csv").write_text("name,malignancy\na,3\n")
    with pytest.raises(ValueError, match="can be read 2 ways") as info:
        load_nodule_dataset(tmp_path)
    message = str(info.value)
    assert "as full-nodule+labels.csv (full/ and nodule/)" in message
    assert f"or as {reading}" in message
    # Empty class folders beside full/ and nodule/ are no second reading.
    for rel in files:
        (tmp_path / rel).unlink()
    assert load_nodule_dataset(tmp_path).ids.tolist() == ["a"]


def test_cli_prints_the_unused_files_as_one_line(tmp_path, capsys):
    _small_pair(tmp_path, "2/a_full.nrrd", "2/a_nodule.nrrd")
    _small_pair(tmp_path, "2/old/b_full.nrrd", "2/old/b_nodule.nrrd")
    assert main(["make-manifest", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("skradnod make-manifest: warning: ")
    assert err.count("\n") == 1 and "2/old/b_full.nrrd, 2/old/b_nodule.nrrd" in err


def test_id_columns_keep_their_text_when_it_is_not_a_plain_number(tmp_path):
    # nodule_id "007" and "7" are two nodules (pandas read both as 7); a
    # column of plain integers stays numbers.
    _write(tmp_path, "suffixes+labels.csv")
    manifest = infer_manifest(tmp_path)
    manifest["nodule_id"] = ["007", "7", "7", "12"]
    manifest["scan_id"] = ["12", "3", "-4", "0"]
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    frame = load_nodule_dataset(tmp_path).frame
    assert frame["nodule_id"].tolist() == ["007", "7", "7", "12"]
    assert frame["scan_id"].tolist() == [12, 3, -4, 0]
