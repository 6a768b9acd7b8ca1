"""``report.html``: a run's tables and figures in one page."""

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from _synthetic import write_tiny_manifest
from sklearn.utils import Bunch

from skradnod.experiments import RATING_COLUMNS, run_experiments, write_html_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _rated(n=60, seed=0):
    """Ratings that give the label away (the oracle is right) and its patients."""
    rng = np.random.RandomState(seed)
    y = np.array([1, 2, 3, 3, 3, 4, 5, 3, 2, 4] * (n // 10))
    frame = pd.DataFrame(index=pd.Index([f"s{i}" for i in range(n)], name="id"))
    for column in RATING_COLUMNS:
        frame[column] = rng.randint(1, 6, n)
    frame["spiculation"] = y
    frame["diameter_mm"] = rng.uniform(3, 30, n)
    return Bunch(frame=frame, target=y, groups=np.arange(n) // 2)


def _run(out, rows, **kwargs):
    return run_experiments(_rated(), rows=rows, task="both", cv=3, out_dir=out,
                           n_bootstrap=20, verbose=False, **kwargs)


class _Page(HTMLParser):
    """The tags, attributes, tables (rows of cell texts) and text of a page.

    A table nested in a cell is a table of its own (in ``tables``, after the
    one holding it); the holding cell gets the nested text too.
    """

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.tables, self.text = [], [], [], []
        self.details_depth, self.images_outside_details = 0, 0
        self._open, self._cells = [], []  # open tables; open cells' texts
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v) for k, v in attrs]
        if tag == "details":
            self.details_depth += 1
        if tag == "img" and not self.details_depth:
            self.images_outside_details += 1
        if tag == "table":
            self.tables.append([])
            self._open.append(self.tables[-1])
        if tag == "tr" and self._open:
            self._open[-1].append([])
        if tag in ("td", "th"):
            self._cells.append([])

    def handle_endtag(self, tag):
        if tag == "details":
            self.details_depth -= 1
        if tag == "table" and self._open:
            self._open.pop()
        if tag in ("td", "th") and self._cells:
            self._open[-1][-1].append("".join(self._cells.pop()).strip())

    def handle_data(self, data):
        self.text.append(data)
        for cell in self._cells:
            cell.append(data)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run with figures: the two baselines of the crop table, both tasks."""
    out = tmp_path_factory.mktemp("run")
    results = _run(out, ["nodule/majority", "nodule/semantic_oracle"])
    return out, results


def _thesis_row(page, title):
    for table in page.tables:
        if table and table[0][:2] == ["Model", "5-class accuracy"]:
            for row in table[1:]:
                if row[0] == title:
                    return row
    raise AssertionError(f"no table row {title!r} in {page.tables}")


def _ci(results, key, task, metric="accuracy"):
    r = results.set_index(["key", "task"]).loc[(key, task)]
    return (f"{100 * r[metric]:.1f} [{100 * r[f'{metric}_ci_low']:.1f}, "
            f"{100 * r[f'{metric}_ci_high']:.1f}]")


def test_report_holds_the_tables_and_embeds_every_figure(finished_run):
    out, results = finished_run
    text = (out / "report.html").read_text(encoding="utf-8")
    page = _Page(text)
    # The thesis table with the known answers: class 3 is 40 % of the labels,
    # benign (1-3) 70 %; the oracle reads the label off the ratings.
    majority = _thesis_row(page, "Majority class")
    assert majority[1] == _ci(results, "nodule/majority", "5class") + " (chance)"
    assert majority[1].startswith("40.0 [")
    assert majority[4].startswith("70.0 [")
    oracle = _thesis_row(page, "Semantic-rating oracle")
    assert oracle[1] == _ci(results, "nodule/semantic_oracle", "5class")
    headings = [t[0] for t in page.tables if t]
    assert ["Table", "Model", "Task", "Balanced accuracy", "Macro F1", "ROC AUC",
            "ECE", "Fit time per fold (s)"] in headings
    # What the run used.
    run_table = page.tables[0]
    used = {row[0]: row[1] for row in run_table if len(row) == 2}
    assert used["Data"] == "60 samples from 30 patients"
    assert used["Cross-validation"] == "3-fold StratifiedGroupKFold by patient"
    assert used["Seed"] == "0" and used["Preset"] == "demo"
    assert used["Samples per class"] == "1: 6, 2: 12, 3: 24, 4: 12, 5: 6"
    assert "scikit-learn" in text and "Report written (UTC)" in used
    # Every PNG the run drew is in the page, byte for byte, behind a click.
    drawn = sorted((out / "figures").glob("*.png"))
    assert len(drawn) == 12  # 2 rows x 2 tasks x 3 figures
    sources = [v for tag, k, v in page.attrs if tag == "img" and k == "src"]
    assert len(sources) == len(drawn)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    assert embedded == {p.read_bytes() for p in drawn}
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert page.images_outside_details == 0
    assert page.tags.count("details") >= 4


def test_report_references_nothing_outside_itself(finished_run):
    out, _ = finished_run
    text = (out / "report.html").read_text(encoding="utf-8")
    page = _Page(text)
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', text)
    assert "url(" not in text and "@import" not in text
    assert not {"script", "link", "iframe", "object", "embed"} & set(page.tags)
    # No PNG is named outside its data: URI (the page does not point at files).
    without_uris = re.sub(r'data:image/png;base64,[A-Za-z0-9+/=]+', "", text)
    assert ".png" not in without_uris
    assert 'http-equiv="Content-Security-Policy"' in text


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _assert_inert(text):
    page = _Page(text)
    assert "script" not in page.tags
    assert not [a for a in page.attrs if a[1].startswith("on")]
    assert not [a for a in page.attrs if a[0] == "img" and a[2] == "x"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    return page


def test_user_strings_are_escaped(tmp_path):
    # A manifest id, a data folder, a row's title, key, message and options
    # holding markup: each is shown as text.
    records = [{
        "table": "nodule", "row": HOSTILE, "key": f"nodule/{HOSTILE}",
        "title": HOSTILE, "task": "5class", "status": "failed",
        "message": f"ValueError: Manifest row id={HOSTILE!r}: bad image",
        "description": HOSTILE, "used": f"weights={HOSTILE}", "figures": "",
    }]
    context = {
        "data": f"12 samples ({HOSTILE})", "cv": "2-fold", "preset": HOSTILE,
        "run": {"source": f"/data/{HOSTILE}", "params": {HOSTILE: {"w": HOSTILE}},
                "rows": [HOSTILE], HOSTILE: HOSTILE},
    }
    card = {"training data": {HOSTILE: HOSTILE}, "limitations": [HOSTILE]}
    path = write_html_report(tmp_path, records, context,
                             sections=[(HOSTILE, card), ("Notes", HOSTILE)])
    page = _assert_inert(path.read_text(encoding="utf-8"))
    text = "".join(page.text)
    assert f"Manifest row id={HOSTILE!r}" in text  # shown whole, not dropped
    assert text.count(HOSTILE) >= 10


def test_a_real_run_escapes_its_data_folder_and_options(tmp_path):
    data = tmp_path / "cohort <script>alert(1)</script>"
    data.mkdir(parents=True)  # "</script>" holds a slash: two folders
    write_tiny_manifest(data)
    out = tmp_path / "out"
    results = run_experiments(
        data, rows=["nodule/majority", "nodule/basic_cnn"], task="5class", cv=2,
        out_dir=out, n_bootstrap=10, figures=False, verbose=False,
        params={"nodule/basic_cnn": {HOSTILE: 1}},
    )
    assert list(results["status"]) == ["ok", "failed"]
    text = (out / "report.html").read_text(encoding="utf-8")
    page = _assert_inert(text)
    used = {r[0]: r[1] for r in page.tables[0] if len(r) == 2}
    assert used["Data folder"] == str(data)
    assert used["Layout"] == "manifest.csv"
    assert HOSTILE in "".join(page.text)  # the failed row's message names it


def test_resumed_run_report_holds_every_row_and_figure(tmp_path):
    _run(tmp_path, ["nodule/majority"])
    first = sorted((tmp_path / "figures").glob("*.png"))
    assert len(first) == 6
    again = _run(tmp_path, ["nodule/majority", "nodule/semantic_oracle"],
                 resume=True)
    page = _Page((tmp_path / "report.html").read_text(encoding="utf-8"))
    assert _thesis_row(page, "Majority class")[1] == (
        _ci(again, "nodule/majority", "5class") + " (chance)")
    assert _thesis_row(page, "Semantic-rating oracle")[1] == _ci(
        again, "nodule/semantic_oracle", "5class")
    sources = [v for tag, k, v in page.attrs if tag == "img" and k == "src"]
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    # The kept row's figures come from the earlier run, the new row's are new.
    assert {p.read_bytes() for p in first} <= embedded
    assert len(embedded) == 12
    used = {r[0]: r[1] for r in page.tables[0] if len(r) == 2}
    assert used["Resumed an earlier run"] == "True"


def _from_thesis_tables(page):
    first = next(i for i, t in enumerate(page.tables)
                 if t and t[0][:2] == ["Model", "5-class accuracy"])
    return page.tables[first:]


def test_report_rewritten_from_a_finished_run_folder(finished_run, tmp_path):
    out, _ = finished_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "report.html").unlink()
    card = {"model": "nodule/semantic_oracle", "n_samples": 60}
    path = write_html_report(copy, sections=[("Model card", card)])
    before = _Page((out / "report.html").read_text(encoding="utf-8"))
    after = _Page(path.read_text(encoding="utf-8"))
    # From results.json and the PNGs alone: the same tables and figures.
    assert _from_thesis_tables(after) == _from_thesis_tables(before)
    def images(page):
        return sorted(a for a in page.attrs if a[0] == "img")

    assert images(after) == images(before) and len(images(after)) == 24
    run_before, run_after = before.tables[0], after.tables[0]
    assert len(run_after) == len(run_before)
    assert run_after[:5] == run_before[:5]  # data, folds, preset, ...
    assert "Model card" in after.text
    assert [["model", "nodule/semantic_oracle"], ["n_samples", "60"]] in after.tables


def test_a_figure_named_outside_the_run_folder_is_not_read(tmp_path):
    out = tmp_path / "run"
    _run(out, ["nodule/majority"])
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"SECRET" * 50)
    (out / "figures" / "notes.png").write_text("not an image")
    (out / "figures" / "link.png").symlink_to(secret)
    payload = json.loads((out / "results.json").read_text())
    payload["rows"][0]["figures"] = ";".join([
        "../secret.png", str(secret), "figures/link.png", "figures/notes.png",
        "figures/gone.png",
    ])
    (out / "results.json").write_text(json.dumps(payload))
    # Both ways the page is rebuilt from results.json: on its own and resumed.
    for write in (lambda: write_html_report(out),
                  lambda: _run(out, ["nodule/majority"], resume=True)):
        write()
        text = (out / "report.html").read_text(encoding="utf-8")
        assert base64.b64encode(secret.read_bytes()).decode()[:40] not in text
        assert text.count("not embedded: outside the run&#x27;s figures/ folder") == 3
        assert "figures/notes.png not embedded: not a PNG file" in text
        assert "figures/gone.png not embedded: cannot be read" in text


def test_bad_run_folders_and_sections_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="No results.json in .*not the folder"):
        write_html_report(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(ValueError, match="Cannot read the run's .*results.json"):
        write_html_report(tmp_path)
    (tmp_path / "results.json").write_text(json.dumps(
        {"context": {}, "rows": [{"key": "a", "task": "5class"}]}))
    with pytest.raises(ValueError, match=r"no column\(s\) \['table', 'row', 'title'"):
        write_html_report(tmp_path)
    # Values of the wrong kind (an edited file): the file is named.
    (tmp_path / "results.json").write_text(json.dumps({
        "context": {"wall_time": "long", "run": [1], "radiologists": {"x": 1}},
        "rows": [{"table": "nodule", "row": "r", "key": "nodule/r", "title": "R",
                  "task": "5class", "status": "ok", "figures": 3}]}))
    with pytest.raises(ValueError, match="Cannot read the run's .*results.json"):
        write_html_report(tmp_path)
    record = {"table": "nodule", "row": "r", "key": "nodule/r", "title": "R",
              "task": "ternary", "status": "ok"}
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['ternary'\]"):
        write_html_report(tmp_path, [record])
    with pytest.raises(ValueError, match="sections: each entry is a .title, content"):
        write_html_report(tmp_path, [], sections=["Model card"])
    # No finished row yet: a page that says so.
    page = write_html_report(tmp_path, [], {"data": "3 samples"})
    assert "No row has finished yet." in page.read_text(encoding="utf-8")


def _browser():
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser():
    """A headless Chromium's path; the test is skipped (not passed) without one."""
    found = _browser()
    if found is None:
        pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) on PATH; "
                    ".ci/run installs Debian's chromium where it can")
    return found


def test_report_renders_in_a_real_browser(browser, finished_run, tmp_path):
    out, results = finished_run
    url = (out / "report.html").resolve().as_uri()
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,2000", url],
                   check=True, capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    # Not blank: text and table rules on white (a blank page has std 0).
    assert pixels.std() > 0.05
    assert (pixels.mean(axis=2) < 0.5).mean() > 0.01
    dom = subprocess.run([*flags, "--dump-dom", url], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    page = _Page(dom)
    assert _thesis_row(page, "Majority class")[1] == (
        _ci(results, "nodule/majority", "5class") + " (chance)")
    assert page.tags.count("table") >= 4
    assert page.tags.count("img") == 12


def test_cli_treats_an_old_report_as_an_earlier_run(tmp_path, capsys):
    from skradnod.cli import main

    data = write_tiny_manifest(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("stale report of another run")
    command = ["reproduce", str(data), "--rows", "nodule/majority", "--task",
               "5class", "--preset", "quick", "--cv", "2", "--out", str(out),
               "--quiet"]
    assert main(command) == 2
    assert "holds an earlier run (report.html)" in capsys.readouterr().err
    assert main([*command, "--overwrite"]) == 0
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "stale" not in text and "Majority class" in text
    assert f"Report: {out / 'report.html'}" in capsys.readouterr().out
