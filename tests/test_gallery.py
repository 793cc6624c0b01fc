"""The reproduction gallery (``bioplaus reproduce --site DIR``): pages from a store built with the store's API, a failing
claim shown as failing, stale pages, byte-identical regeneration, ``--only`` leaving other pages alone; and the pages
checked in a real headless browser (marked ``browser``: skipped where no Chromium is installed, unless
``BIOPLAUS_REQUIRE_BROWSER=1``, which ``.ci/run`` sets)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from bioplaus import gallery
from bioplaus.cli import main
from bioplaus.protocol import load_protocol
from bioplaus.store import Store

REPO = Path(__file__).resolve().parent.parent

PROTOCOL = '''"""{title}

Paper: Somebody 2020. Published: the angle falls below {bound} degrees. A tiny protocol for the gallery's tests.
"""
from bioplaus import Protocol, rules, tasks
from bioplaus.claims import Bound

protocol = Protocol(
    name="{name}",
    task=tasks.LinearTeacher(n_in=30, n_out=10, n_test=100),
    model="linear_30_20_10",
    rules=[rules.Backprop(), rules.FeedbackAlignment(scale=0.5)],
    seeds=range(3),
    steps=40,
    batch_size=20,
    record_every=20,
    metrics=["test_loss", "update_angle"],
    quick=dict(steps=20),
    target=Bound(paper="Somebody 2020", where="Fig. 9", proxy=True, published="below {bound} degrees",
                 condition="feedback_alignment", metric="update_angle", layer="hidden1", op="<", bound={bound}),
)
'''

FIGURE = '''"""Test loss by condition."""
import matplotlib.pyplot as plt

from bioplaus.plotting import plot_by_rule


def make(store):
    fig, ax = plt.subplots(figsize=(3, 2))
    plot_by_rule(ax, store.metrics(protocol="{name}", metric="test_loss"))
    ax.set(xlabel="step", ylabel="test loss")
    return fig
'''


def write_protocols(root: Path) -> dict[str, Path]:
    """``passing`` (angle < 90: holds) and ``failing`` (angle < 10: does not), each with a figure script beside."""
    (root / "protocols").mkdir(parents=True)
    (root / "figures").mkdir()
    out = {}
    for name, bound in (("passing", 90), ("failing", 10)):
        out[name] = root / "protocols" / f"{name}.py"
        out[name].write_text(PROTOCOL.format(name=name, bound=bound, title=f"{name.title()}: a tiny protocol"))
        (root / "figures" / f"{name}.py").write_text(FIGURE.format(name=name))
    return out


def fill_store(store: Store, name: str) -> None:
    """Three seeds of each condition: the angle of feedback alignment falls from 90 to 40 + seed, test loss halves."""
    for condition in ("backprop", "feedback_alignment"):
        for seed in range(3):
            outcome, run_id = store.claim_run(name, condition, condition, seed, {"seed": seed}, f"hash{seed}", owner=None)
            assert outcome == "claimed"
            angle = 0.0 if condition == "backprop" else 40.0 + seed
            rows = [(0, 0.0, "test_loss", "all", 2.0), (40, 1.0, "test_loss", "all", 1.0),
                    (0, 0.0, "update_angle", "hidden1", 0.0 if condition == "backprop" else 90.0),
                    (40, 1.0, "update_angle", "hidden1", angle)]
            assert store.finish_run(run_id, "done", rows, duration_s=1.5)
    store.record_provenance(name, {"script": "x", "script_sha256": "0" * 64, "started_utc": "2026-01-01 00:00:00 UTC",
                                   "finished_utc": "2026-01-01 00:00:09 UTC", "wall_s": 9.0, "command": f"bioplaus reproduce --only {name}",
                                   "machine": {"hostname": "h", "cpu": "c", "cores": 2, "os": "o"}, "versions": {}, "quick": False})


@pytest.fixture
def site(tmp_path) -> tuple[Path, dict[str, Path], Path]:
    """A gallery of the two tiny protocols from a store constructed through the store's API (nothing trained)."""
    scripts = write_protocols(tmp_path)
    store_path = tmp_path / "store" / "s.sqlite"
    out = tmp_path / "site"
    with Store(store_path) as store:
        for name, script in scripts.items():
            fill_store(store, name)
            gallery.write_page(out, store, load_protocol(script), script)
    gallery.write_index(out)
    return out, scripts, store_path


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str]] = []
        self.imgs: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key):
                self.refs.append((tag, a[key]))
        if tag == "img":
            self.imgs.append(a)


def parsed(page: Path) -> Links:
    p = Links()
    p.feed(page.read_text(encoding="utf-8"))
    return p


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_pages_exist_links_resolve_and_images_are_real_pngs(site):
    out, _, _ = site
    pages = [out / "index.html", out / "passing" / "index.html", out / "failing" / "index.html"]
    assert all(p.is_file() for p in pages) and (out / "style.css").is_file()
    for page in pages:
        links = parsed(page)
        assert links.refs, page
        for _, ref in links.refs:
            url = urlparse(ref)
            if url.scheme == "data":
                continue
            assert not url.scheme and not url.netloc, f"{page}: external reference {ref}"
            assert (page.parent / unquote(url.path)).is_file(), f"{page}: {ref} does not resolve"
        for img in links.imgs:
            png = page.parent / img["src"]
            w, h = gallery._png_size(png)
            assert w > 0 and h > 0 and (int(img["width"]), int(img["height"])) == (w, h) and img["alt"]
            assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert len(parsed(out / "passing" / "index.html").imgs) == 1


def test_a_failing_claim_is_shown_as_failing_in_words_and_colour(site):
    out, _, _ = site
    failing = (out / "failing" / "index.html").read_text()
    # mean of 40, 41, 42 over three seeds, against the criterion
    fail = (r'<span class="verdict v-fail">fail</span><span class="reason">: measured 41 ± 1 \(n=3\), criterion '
            r'[^<]*update_angle\[hidden1\][^<]*&lt; 10</span>')
    assert re.search(fail, failing)
    assert 'class="disagree"' in failing and "disagrees with the paper on 1 claim" in failing
    passing = (out / "passing" / "index.html").read_text()
    assert '<span class="verdict v-pass">pass</span>' in passing and "v-fail" not in passing and "disagree" not in passing
    index = (out / "index.html").read_text()
    assert index.count('data-verdict="fail"') == 1 and index.count('data-verdict="pass"') == 1
    assert 'data-family="other"' in index  # names not in gallery.FAMILIES
    # the page shows the measured table, run times from the store and the provenance
    assert "feedback_alignment  3" in passing and "9.0 s" not in passing and "wall time of that invocation: 9 s" in passing
    assert "<td>feedback_alignment</td><td>3</td><td>3</td><td>4 s</td>" in passing  # 3 runs of 1.5 s
    record = json.loads((out / "failing" / "page.json").read_text())
    assert [c["verdict"] for c in record["claims"]] == ["fail"] and record["family"] == "other"


def test_regenerating_from_the_same_store_is_byte_identical_and_leaves_files_untouched(site):
    out, scripts, store_path = site
    before = snapshot(out)
    with Store(store_path) as store:
        for script in scripts.values():
            gallery.write_page(out, store, load_protocol(script), script)
    gallery.write_index(out)
    assert snapshot(out) == before  # same bytes, and files whose content did not change were not rewritten


def test_index_marks_a_page_stale_when_its_script_changes(site):
    out, scripts, _ = site
    assert "stale" not in (out / "index.html").read_text().replace(".stale", "")
    # the recorded hash is the provenance's ("0" * 64 here): the page records it, the index compares it to the script today
    record = json.loads((out / "passing" / "page.json").read_text())
    assert record["script_sha256"] == "0" * 64
    for name in ("passing", "failing"):
        page = json.loads((out / name / "page.json").read_text())
        page["script_sha256"] = hashlib.sha256(scripts[name].read_bytes()).hexdigest()
        page["script"] = str(scripts[name])
        (out / name / "page.json").write_text(json.dumps(page))
    gallery.write_index(out)
    assert [p["stale"] for p in gallery.read_pages(out)] == [False, False]
    scripts["passing"].write_text(scripts["passing"].read_text() + "# changed\n")
    gallery.write_index(out)
    assert [(p["protocol"], p["stale"]) for p in gallery.read_pages(out)] == [("failing", False), ("passing", True)]
    index = (out / "index.html").read_text()
    assert "1 page(s) stale" in index and '<a href="passing/index.html">passing</a> <span class="stale">stale</span>' in index
    scripts["passing"].unlink()
    assert [p["stale"] for p in gallery.read_pages(out)] == [False, None]


def test_reproduce_site_only_rewrites_its_own_page_and_records_provenance(tmp_path, capsys):
    """End to end through the CLI on real (tiny, quick) runs: the second protocol's run leaves the first page's files
    byte-identical and untouched; a plain re-run resumes, measures nothing and gives the same page."""
    scripts = write_protocols(tmp_path)
    store, out = tmp_path / "store" / "s.sqlite", tmp_path / "site"
    common = ["--quick", "--store", str(store), "--site", str(out), "--no-progress", "--out", str(tmp_path / "r" / "R.md")]
    assert main(["reproduce", "--only", str(scripts["passing"]), *common]) == 0
    first = snapshot(out / "passing")
    assert main(["reproduce", "--only", str(scripts["failing"]), *common]) == 1  # its claim fails
    assert snapshot(out / "passing") == first
    assert {p["protocol"] for p in gallery.read_pages(out)} == {"passing", "failing"}
    with Store(store, create=False) as s:
        prov = s.provenance("failing")
        assert prov["script_sha256"] == hashlib.sha256(scripts["failing"].read_bytes()).hexdigest()
        assert prov["quick"] is True and prov["command"].startswith("bioplaus reproduce --only ") and "--site" in prov["command"]
        assert prov["machine"]["cores"] == os.cpu_count() and prov["versions"]["bioplaus"]
        runs = s.runs("failing")
    page = (out / "failing" / "index.html").read_text()
    assert "<strong>Quick run</strong>" in page and prov["command"] in page.replace("&#x27;", "'")
    assert "The 6 finished runs were measured between" in page and "6 of them by the invocation above" in page
    assert main(["reproduce", "--only", str(scripts["failing"]), *common]) == 1
    with Store(store, create=False) as s:
        assert s.runs("failing")["id"].tolist() == runs["id"].tolist()  # resumed: nothing run again
    page = (out / "failing" / "index.html").read_text()
    assert "0 of them by the invocation above" in page and "were already in the store and were not measured again" in page


def test_reproduce_refuses_full_with_quick_and_a_site_that_is_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["reproduce", "--quick", "--full"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    (tmp_path / "f").write_text("")
    assert main(["reproduce", "--only", "lillicrap2016_linear", "--store", str(tmp_path / "s.sqlite"), "--site", str(tmp_path / "f")]) == 2
    assert "--site" in capsys.readouterr().err and not (tmp_path / "s.sqlite").exists()


def test_a_store_of_schema_3_gains_the_provenance_table(tmp_path):
    path = tmp_path / "old.sqlite"
    with Store(path) as store:
        fill_store(store, "passing")
    con = sqlite3.connect(path)
    con.execute("DROP TABLE provenance")
    con.execute("PRAGMA user_version = 3")
    con.commit()
    con.close()
    with Store(path) as store:
        assert store.provenance("passing") is None and len(store.runs("passing")) == 6
        store.record_provenance("passing", {"wall_s": 1.0})
        assert store.provenance("passing") == {"wall_s": 1.0}


def test_every_shipped_protocol_has_a_family():
    shipped = {p.stem for p in (REPO / "protocols").glob("*.py") if not p.name.startswith("_")}
    assert shipped - set(gallery.FAMILIES) == set(), "add the new protocol to bioplaus.gallery.FAMILIES"
    assert set(gallery.FAMILIES) - shipped == set()


def test_git_commit_outside_git_is_none_and_inside_names_the_commit(tmp_path):
    assert gallery.git_commit(tmp_path) is None
    if shutil.which("git") and (REPO / ".git").exists():
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", gallery.git_commit(REPO))


# -- the browser check -------------------------------------------------------------------------------------------------
def chrome():
    """A headless Chromium driven by Selenium with the distribution's chromedriver, or a skip (a failure when
    ``BIOPLAUS_REQUIRE_BROWSER=1``)."""
    required = os.environ.get("BIOPLAUS_REQUIRE_BROWSER") == "1"
    missing = [] if shutil.which("chromedriver") else ["chromedriver"]
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    missing += [] if binary else ["chromium"]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip install -e .[browser])")
    if missing:
        message = f"no browser to check the gallery: missing {', '.join(missing)} (apt-get install -y chromium chromium-driver)"
        if required:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def browser_problems(driver, site: Path) -> list[str]:
    """Every page of ``site`` opened under file://: console errors, images that did not render, links that do not
    resolve to a file, and any reference to another host."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        driver.get(page.resolve().as_uri())
        for entry in driver.get_log("browser"):
            if entry["level"] in ("SEVERE", "WARNING"):
                problems.append(f"{page}: console {entry['level']}: {entry['message']}")
        sizes = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth, i.clientWidth]);")
        problems += [f"{page}: image {src} did not render (complete {done}, width {w}, shown {shown})"
                     for src, done, w, shown in sizes if not (done and w > 0 and shown > 0)]
        refs = driver.execute_script(
            "return Array.from(document.querySelectorAll('[href],[src]')).map(e => [e.getAttribute('href') || e.getAttribute('src'),"
            " e.href || e.src]);")
        for raw, absolute in refs:
            url = urlparse(absolute)
            if url.scheme == "data":
                continue
            if url.scheme != "file":
                problems.append(f"{page}: {raw} leaves the site ({absolute})")
            elif not Path(unquote(url.path)).is_file():
                problems.append(f"{page}: link {raw} does not resolve to a file")
    return problems


@pytest.mark.browser
def test_gallery_pages_load_in_a_headless_browser(site, tmp_path):
    out, _, _ = site
    driver = chrome()
    try:
        assert browser_problems(driver, out) == []
        committed = REPO / "docs" / "reproductions"
        if (committed / "index.html").is_file():
            assert browser_problems(driver, committed) == []
        # the index's filter works: choosing the verdict 'fail' leaves the failing protocol's one claim
        from selenium.webdriver.support.ui import Select

        driver.get((out / "index.html").resolve().as_uri())
        assert driver.find_element("id", "shown").text == "2 of 2 claims shown"
        Select(driver.find_element("id", "verdict")).select_by_value("fail")
        visible = [r.text for r in driver.find_elements("css selector", "#claims tbody tr") if r.is_displayed()]
        assert len(visible) == 1 and visible[0].startswith("failing") and driver.find_element("id", "shown").text == "1 of 2 claims shown"
        driver.get((out / "failing" / "index.html").resolve().as_uri())
        driver.save_screenshot(str(tmp_path / "failing.png"))
        assert (tmp_path / "failing.png").stat().st_size > 0
        assert driver.get_log("browser") == []
    finally:
        driver.quit()


def test_a_protocol_that_could_not_be_run_gets_a_page_that_says_why(site):
    out, _, store_path = site
    with Store(store_path) as store:
        gallery.write_page(out, store, None, out.parent / "protocols" / "broken.py", error="broken.py: no such dataset")
    gallery.write_index(out)
    page = (out / "broken" / "index.html").read_text()
    assert "Could not be reproduced" in page and "no such dataset" in page
    assert '<a href="broken/index.html">broken</a></td><td>other</td><td>0 / 0</td><td>-, full</td><td>error</td>' in (out / "index.html").read_text()


def test_a_figure_that_fails_is_reported_on_the_page_and_the_old_one_removed(site):
    out, scripts, store_path = site
    assert (out / "failing" / "failing.png").is_file()
    (scripts["failing"].parent.parent / "figures" / "failing.py").write_text("def make(store):\n    raise ValueError('no data')\n")
    with Store(store_path) as store:
        gallery.write_page(out, store, load_protocol(scripts["failing"]), scripts["failing"])
    page = (out / "failing" / "index.html").read_text()
    assert "The figure could not be rendered" in page and "no data" in page and "<img" not in page
    assert sorted(p.name for p in (out / "failing").iterdir()) == ["index.html", "page.json"]
