"""The tuning page in a real browser: headless Chromium driven by Selenium.

The service runs under uvicorn in a background thread on 127.0.0.1 (a free port), with the fake
models and a small synced catalog with images. Network access is limited to loopback by
pytest-socket's ``allow_hosts`` marker (every other address is refused), and Chromium is started
with its background networking off.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (or ``CHROMIUM`` / ``CHROMEDRIVER``
pointing at the binaries) and ``pip install selenium``; skipped with the reason otherwise.
Screenshots go to a temporary folder; ``pytest tests/test_browser.py --screenshots docs``
writes the page's picture for the docs (``docs/service-screenshot.png``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from qdrant_mm.app import QdrantMM
from qdrant_mm.backends.edge import EdgeBackend
from qdrant_mm.service import create_app
from qdrant_mm.settings import Settings
from qdrant_mm.sync import Syncer
from tests.fakes import fake_bundle

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - depends on the environment
    webdriver = None

# Only loopback (IPv4 and IPv6: Selenium talks to chromedriver via "localhost").
pytestmark = pytest.mark.allow_hosts(["127.0.0.1", "::1"])

KEY = "browser-test-key"
SCREENSHOT_NAME = "service-screenshot.png"
WORKBENCH_SCREENSHOT = "service-live-metrics.png"
#: Where screenshots go: ``--screenshots DIR``, else a temporary folder (set once per session).
screenshot_dir: Path | None = None
WAIT = 20  # seconds for anything the page does


@pytest.fixture(autouse=True, scope="module")
def _screenshot_dir(request, tmp_path_factory) -> None:
    global screenshot_dir
    chosen = request.config.getoption("--screenshots")
    screenshot_dir = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    screenshot_dir.mkdir(parents=True, exist_ok=True)


def _find(env: str, *names: str) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if Path(os.environ[env]).is_file() else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _find("CHROMIUM", "chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = _find("CHROMEDRIVER", "chromedriver")


def _skip_reason() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install selenium, or the 'dev' extra)"
    if CHROMIUM is None:
        return "no Chromium binary: apt-get install -y chromium (or set CHROMIUM)"
    if CHROMEDRIVER is None:
        return "no chromedriver: apt-get install -y chromium-driver (or set CHROMEDRIVER)"
    return None


# --- a small catalog with pictures that look like something ------------------------------------
PRODUCTS = [
    ("p01", "Red canvas sneaker", "shoes", "acme", 59.0, (220, 38, 38), "ellipse"),
    ("p02", "Blue leather tote", "bags", "zen", 129.0, (37, 99, 235), "rect"),
    ("p03", "Green wool beanie", "hats", "nova", 24.5, (22, 163, 74), "triangle"),
    ("p04", "Yellow rain jacket", "shirts", "acme", 89.0, (234, 179, 8), "rect"),
    ("p05", "Black leather boot", "shoes", "zen", 149.0, (30, 30, 30), "ellipse"),
    ("p06", "White cotton shirt", "shirts", "nova", 39.9, (226, 232, 240), "rect"),
    ("p07", "Pink floral dress", "shirts", "acme", 74.0, (236, 72, 153), "triangle"),
    ("p08", "Grey canvas backpack", "bags", "nova", 64.0, (120, 120, 130), "rect"),
    ("p09", "Brown suede loafer", "shoes", "acme", 99.0, (146, 84, 42), "ellipse"),
    ("p10", "Orange sun hat", "hats", "zen", 29.0, (249, 115, 22), "triangle"),
    ("p11", "Navy running shoe", "shoes", "nova", 84.0, (30, 58, 138), "ellipse"),
    ("p12", "Teal crossbody bag", "bags", "acme", 54.0, (13, 148, 136), "rect"),
]


def _picture(path: Path, colour: tuple[int, int, int], shape: str, seed: int) -> None:
    size = 240
    img = Image.new("RGB", (size, size), (246, 246, 244))
    draw = ImageDraw.Draw(img)
    shade = tuple(max(0, c - 40) for c in colour)
    off = (seed * 7) % 30
    if shape == "ellipse":
        draw.ellipse((30, 70 + off // 2, 210, 180), fill=colour, outline=shade, width=6)
        draw.rectangle((40, 165, 200, 185), fill=shade)
    elif shape == "rect":
        draw.rounded_rectangle(
            (55 - off // 3, 60, 185, 200), 18, fill=colour, outline=shade, width=6
        )
        draw.arc((85, 20, 155, 100), 180, 360, fill=shade, width=8)
    else:
        draw.polygon([(120, 35 + off), (215, 190), (25, 190)], fill=colour, outline=shade)
        draw.rectangle((25, 185, 215, 200), fill=shade)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="PNG")


def write_pretty_catalog(root: Path) -> Path:
    import json

    rows = []
    for i, (pid, title, category, brand, price, colour, shape) in enumerate(PRODUCTS):
        image = f"images/{pid}.png"
        _picture(root / image, colour, shape, i)
        rows.append(
            {
                "id": pid,
                "title": title,
                "description": f"{title.lower()} by {brand}",
                "image": image,
                "category": category,
                "brand": brand,
                "price": price,
            }
        )
    path = root / "catalog.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- the live service ---------------------------------------------------------------------------
class LiveURL(str):
    """The service's base URL, with what it runs on (to compare the page with the library)."""

    def __new__(cls, url: str, backend, models, root: Path):
        self = super().__new__(cls, url)
        self.backend, self.models, self.root = backend, models, root
        return self


@contextlib.contextmanager
def _serving(catalog: Path, store: Path):
    """Sync ``catalog`` into an Edge store and serve it under uvicorn on a free loopback port."""
    import uvicorn

    backend = EdgeBackend(store)
    models = fake_bundle()
    assert Syncer(backend, models, "products").sync(catalog).ok
    settings = Settings(
        _env_file=None, collection="products", image_root=catalog.parent, api_key=KEY
    )
    app = create_app(QdrantMM(settings, backend=backend, models=models))

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test service did not start")
        time.sleep(0.05)
    try:
        yield LiveURL(f"http://127.0.0.1:{port}", backend, models, catalog.parent)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        backend.close()


@pytest.fixture(scope="module")
def live_service(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("browser")
    with _serving(write_pretty_catalog(tmp / "catalog"), tmp / "edge") as url:
        yield url


@pytest.fixture(scope="module")
def browser(live_service):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1040",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--metrics-recording-only",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as exc:
        pytest.skip(f"Chromium could not be started: {exc.msg}")
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def _cards(driver) -> list[tuple[str, str, tuple[str, ...]]]:
    """What the grid shows: id, fused score and the channel scores of each card, in order."""
    return driver.execute_script(
        """
        return [...document.querySelectorAll('#results .card')].map(c => [
          c.dataset.id,
          c.querySelector('.score').textContent,
          [...c.querySelectorAll('.bar .value')].map(v => v.textContent),
        ]);
        """
    )


def _weights(driver) -> list[float]:
    return [
        float(driver.find_element(By.ID, f"w-{c}-value").text)
        for c in ("blip", "clip", "interrogator")
    ]


def _wait(driver, what, message: str):
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.05).until(lambda d: what(d))
    except TimeoutException:
        shot = (screenshot_dir or Path(tempfile.gettempdir())) / "service-screenshot-failure.png"
        driver.save_screenshot(str(shot))
        pytest.fail(f"{message} (page saved to {shot})")


def _severe_console_errors(driver) -> list[str]:
    try:
        logs = driver.get_log("browser")
    except WebDriverException:
        return []
    return [e["message"] for e in logs if e.get("level") == "SEVERE"]


def _open_page(driver, base: str) -> None:
    driver.get(base + "/")
    _wait(
        driver,
        lambda d: "products" in d.find_element(By.ID, "collection").text,
        "the page did not load /info",
    )


def test_query_then_slider_changes_ranking(live_service, browser):
    driver = browser
    _open_page(driver, live_service)
    assert _weights(driver) == [0.4, 0.4, 0.2]

    box = driver.find_element(By.ID, "q")
    box.send_keys("red canvas sneaker", Keys.ENTER)
    before = _wait(driver, lambda d: _cards(d), "no results after the query")
    assert len(before) == len(PRODUCTS)
    assert all(len(bars) == 3 and "–" not in bars for _, _, bars in before)

    # drag α (BLIP) to the far left: the other two keep their 2:1 ratio and the sum stays 1
    slider = driver.find_element(By.ID, "w-blip")
    width = slider.size["width"]
    ActionChains(driver).click_and_hold(slider).move_by_offset(
        -width // 2 - 5, 0
    ).release().perform()
    _wait(driver, lambda d: _weights(d)[0] == 0.0, "the BLIP slider did not move to 0")
    blip, clip, interrogator = _weights(driver)
    assert clip == pytest.approx(2 / 3, abs=0.011)
    assert interrogator == pytest.approx(1 / 3, abs=0.011)
    assert blip + clip + interrogator == pytest.approx(1.0, abs=0.011)

    # the grid re-ranks by itself (debounced): other scores, BLIP not computed any more
    after = _wait(
        driver,
        lambda d: (c := _cards(d)) and c != before and all(b[0] == "–" for _, _, b in c) and c,
        "the results did not change after moving the slider",
    )
    assert [s for _, s, _ in after] != [s for _, s, _ in before]
    scores = [float(s) for _, s, _ in after]
    assert scores == sorted(scores, reverse=True)
    status = driver.find_element(By.ID, "status").text
    assert "0.00 / 0.67 / 0.33" in status

    # then nudge β with the keyboard: another ranking
    clip_slider = driver.find_element(By.ID, "w-clip")
    clip_slider.send_keys(Keys.END)
    _wait(driver, lambda d: _weights(d)[1] == 1.0, "the CLIP slider did not move with END")
    _wait(driver, lambda d: _cards(d) != after, "the results did not change after END")

    # back to a balanced mix for the screenshot: every channel has a bar
    for name, key in (("w-interrogator", Keys.ARROW_RIGHT), ("w-blip", Keys.ARROW_RIGHT)):
        el = driver.find_element(By.ID, name)
        for _ in range(30):
            el.send_keys(key)
    _wait(
        driver,
        lambda d: (c := _cards(d)) and all("–" not in b for _, _, b in c),
        "the results did not come back with all three channels",
    )
    _wait(
        driver,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('#results img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        ),
        "product images did not load from /images",
    )
    time.sleep(0.3)  # bar transitions
    assert screenshot_dir is not None
    assert driver.save_screenshot(str(screenshot_dir / SCREENSHOT_NAME))
    assert not _severe_console_errors(driver)


def test_search_by_photo(live_service, browser, tmp_path_factory):
    driver = browser
    _open_page(driver, live_service)
    photo = tmp_path_factory.mktemp("upload") / "query.png"
    _picture(photo, PRODUCTS[4][5], PRODUCTS[4][6], 4)  # the picture of p05
    driver.find_element(By.ID, "image").send_keys(str(photo))
    first = _wait(driver, lambda d: (c := _cards(d)) and c[0][0], "no results for the photo")
    assert first == "p05"
    assert driver.find_element(By.ID, "image-name").text == "query.png"
    assert not _severe_console_errors(driver)


def test_save_profile_from_the_page(live_service, browser):
    driver = browser
    _open_page(driver, live_service)
    driver.find_element(By.ID, "w-interrogator").send_keys(Keys.END)
    _wait(driver, lambda d: _weights(d)[2] == 1.0, "the slider did not move")
    driver.find_element(By.ID, "save-profile").click()
    driver.find_element(By.ID, "save-name").send_keys("text-only")
    driver.find_element(By.ID, "save-key").send_keys("wrong key", Keys.ENTER)
    error = _wait(
        driver,
        lambda d: (e := d.find_element(By.ID, "save-error")).is_displayed() and e.text,
        "a wrong key was not reported",
    )
    assert "wrong API key" in error
    key = driver.find_element(By.ID, "save-key")
    key.clear()
    key.send_keys(KEY, Keys.ENTER)
    _wait(
        driver,
        lambda d: d.find_element(By.ID, "profile").get_attribute("value") == "text-only",
        "the saved profile was not selected",
    )
    options = [o.text for o in driver.find_elements(By.CSS_SELECTOR, "#profile option")]
    assert any(o.startswith("text-only") and "0.00 / 0.00 / 1.00" in o for o in options)
    # console errors here are the expected 401 of the wrong key


# --- live metrics of a labelled query set ---------------------------------------------------------
QRELS = [
    {"id": "sneaker", "query": "red canvas sneaker", "relevant": {"p01": 2, "p11": 1}},
    {"id": "tote", "query": "blue leather tote", "relevant": ["p02", "p12", "p08"]},
    {"id": "hat", "query": "a hat for the sun", "relevant": ["p10", "p03"]},
    {"id": "boot", "query": "black leather boot", "relevant": {"p05": 2, "p09": 1}},
    {"id": "shirts", "category": "shirts"},
    {"id": "photo", "image": "images/p07.png", "relevant": ["p07"]},
]


def _shown_metrics(driver) -> tuple[str, dict[str, float]]:
    """The weights the current row was computed for and its metrics, as the page holds them."""
    return driver.execute_script(
        """
        const row = document.getElementById('wb-current');
        if (!row) return null;
        const cells = [...row.querySelectorAll('td[data-metric]')];
        return [row.dataset.weights,
                Object.fromEntries(cells.map(td => [td.dataset.metric, Number(td.dataset.value)]))];
        """
    )


def _evaluate(live_service, qrels_path: Path, weights: str, k: int) -> dict[str, float]:
    """What `qdrant-mm evaluate QRELS --weights W --k K --json` reports (its code path)."""
    from qdrant_mm.evaluation.qrels import read_qrels
    from qdrant_mm.evaluation.runner import embed_queries, evaluate_weightings, resolve_qrels
    from qdrant_mm.search import Searcher
    from qdrant_mm.weights import Weights

    searcher = Searcher(live_service.backend, live_service.models, "products")
    judged = resolve_qrels(searcher, read_qrels(qrels_path))
    vectors = embed_queries(searcher, judged)
    rows = [(weights, Weights.parse(weights))]
    (row,) = evaluate_weightings(searcher, judged, vectors, rows, [k])
    return row.evaluation.metrics


def test_live_metrics_follow_the_slider_and_equal_evaluate(live_service, browser):
    import json

    driver = browser
    _severe_console_errors(driver)  # drain what earlier tests logged (an expected 401)
    _open_page(driver, live_service)
    qrels = live_service.root / "qrels.jsonl"
    qrels.write_text("".join(json.dumps(q) + "\n" for q in QRELS))
    driver.find_element(By.ID, "qrels-file").send_keys(str(qrels))
    _wait(
        driver,
        lambda d: "6 queries" in d.find_element(By.ID, "wb-source").text,
        "the uploaded qrels were not loaded",
    )
    first = _wait(driver, _shown_metrics, "no metrics shown for the current weights")
    names = {"p@10", "r@10", "ndcg@10", "mrr", "map@10"}
    assert set(first[1]) == names
    want = _evaluate(live_service, qrels, first[0], 10)
    assert {m: want[m] for m in names} == first[1]

    # move β with the keyboard: the metrics follow, and still equal evaluate's
    clip = driver.find_element(By.ID, "w-clip")
    for _ in range(25):
        clip.send_keys(Keys.ARROW_RIGHT)
    moved = _wait(
        driver,
        lambda d: (m := _shown_metrics(d)) and m[0] != first[0] and _weights(d)[1] >= 0.6 and m,
        "the metrics did not refresh after moving the slider",
    )
    time.sleep(0.5)  # let the last debounced refresh land
    moved = _shown_metrics(driver)
    want = _evaluate(live_service, qrels, moved[0], 10)
    assert {m: want[m] for m in names} == moved[1]

    # the saved profile's row and each model alone are there too
    labels = [
        r.text.split("\n")[0] for r in driver.find_elements(By.CSS_SELECTOR, "#wb-table tbody tr")
    ]
    assert len(labels) == 5 and labels[0].startswith("current")

    # the simplex: every weighting of the 0.05 grid, the current weights marked
    _wait(
        driver,
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "#simplex .cell")) == 231,
        "the simplex heatmap was not drawn",
    )
    assert driver.find_element(By.ID, "mark-current").get_attribute("visibility") == "visible"

    # a query that changed against the saved profile: click it, its ranking fills the grid
    changed = driver.find_elements(By.CSS_SELECTOR, "#wb-changes li[data-qid]")
    assert changed, "moving β by 0.25 changed no query's nDCG@10"
    if changed:
        qid = changed[0].get_attribute("data-qid")
        changed[0].click()
        _wait(
            driver,
            lambda d: f"labelled query {qid}" in d.find_element(By.ID, "status").text,
            "clicking a changed query did not show its results",
        )
        _wait(driver, lambda d: _cards(d), "no results for the labelled query")
        sens = _wait(
            driver,
            lambda d: (e := d.find_element(By.ID, "sens-blip")).is_displayed() and e.text,
            "no sensitivity shown for the labelled query",
        )
        assert sens.startswith("top-10 order holds for α")

    # learned weights: a table of held-out metrics against the current weights
    driver.find_element(By.ID, "tune-btn").click()
    _wait(
        driver,
        lambda d: d.find_element(By.ID, "tune-out").is_displayed(),
        "tuning showed no result",
    )
    rows = driver.find_elements(By.CSS_SELECTOR, "#tune-out tbody tr")
    assert [r.text.split(" ")[0] for r in rows][:1] == ["current"] and len(rows) == 5
    assert screenshot_dir is not None
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(screenshot_dir / WORKBENCH_SCREENSHOT))
    assert not _severe_console_errors(driver)


# --- products with several photos, and without one ----------------------------------------------
MULTI = [
    ("images/jacket_front.png", (220, 38, 38), "rect"),
    ("images/jacket_back.png", (37, 99, 235), "ellipse"),
    ("images/jacket_detail.png", (22, 163, 74), "triangle"),
]


@pytest.fixture(scope="module")
def photo_service(tmp_path_factory):
    """A service over a few one-photo products, one with three photos and one without."""
    import json

    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("browser-photos")
    root = tmp / "catalog"
    rows = []
    for i, (pid, title, _, _, price, colour, shape) in enumerate(PRODUCTS[:4]):
        _picture(root / f"images/{pid}.png", colour, shape, i)
        rows.append({"id": pid, "title": title, "image": f"images/{pid}.png", "price": price})
    for i, (ref, colour, shape) in enumerate(MULTI):
        _picture(root / ref, colour, shape, 10 + i)
    rows.append({"id": "jacket", "title": "Rain jacket", "images": [r for r, _, _ in MULTI]})
    rows.append(
        {"id": "booklet", "title": "Knitting booklet", "description": "twelve knitting patterns"}
    )
    catalog = root / "catalog.jsonl"
    catalog.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with _serving(catalog, tmp / "edge") as url:
        yield url


def _card(driver, pid: str) -> dict | None:
    """What the card of ``pid`` shows of its photo, or None if there is no such card."""
    return driver.execute_script(
        """
        const card = document.querySelector(`#results .card[data-id="${arguments[0]}"]`);
        if (!card) return null;
        const img = card.querySelector('.thumb img');
        const note = card.querySelector('.photo-note');
        const box = card.querySelector('.no-photo');
        return {
          rank: [...document.querySelectorAll('#results .card')].indexOf(card),
          src: img && img.getAttribute('src'),
          loaded: !!img && img.complete && img.naturalWidth > 0,
          alt: img && img.alt,
          note: note.textContent,
          noteTitle: note.title,
          noteShown: note.getClientRects().length > 0,
          badge: note.classList.contains('badge'),
          placeholder: box && [box.getAttribute('role'), box.getAttribute('aria-label')],
        };
        """,
        pid,
    )


def test_cards_show_the_matched_photo_and_mark_text_only_hits(photo_service, browser):
    driver = browser
    _severe_console_errors(driver)  # drain what earlier tests logged
    _open_page(driver, photo_service)

    # a photo of the jacket's back: the jacket comes first, showing that photo
    driver.find_element(By.ID, "image").send_keys(str(photo_service.root / MULTI[1][0]))
    jacket = _wait(
        driver,
        lambda d: (c := _card(d, "jacket")) and c["rank"] == 0 and c["loaded"] and c,
        "the jacket was not the first result showing its photo",
    )
    assert jacket["src"] == "/images/" + MULTI[1][0]  # the matched photo, not the first one
    assert jacket["alt"] == "Rain jacket, photo 2 of 3 (the one that matched)"
    assert jacket["note"] == "photo 2/3" and jacket["noteShown"] and not jacket["badge"]

    # a text query: the booklet (no photo) is marked, with a placeholder and no <img>
    driver.find_element(By.ID, "image-clear").click()
    _wait(driver, lambda d: not _cards(d), "clearing the photo did not clear the results")
    driver.find_element(By.ID, "q").send_keys("knitting booklet", Keys.ENTER)
    booklet = _wait(driver, lambda d: _card(d, "booklet"), "the booklet was not found")
    assert booklet["src"] is None
    assert booklet["note"] == "text only" and booklet["badge"] and booklet["noteShown"]
    assert booklet["noteTitle"] == "no photo: found by its title and description"
    assert booklet["placeholder"] == ["img", "Knitting booklet: no photo"]
    _wait(
        driver,
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('#results img')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        ),
        "a product photo did not load",
    )
    others = [_card(driver, pid) for pid, *_ in PRODUCTS[:4]] + [_card(driver, "jacket")]
    assert all(c and c["src"] and c["note"] != "text only" for c in others)
    assert not _severe_console_errors(driver)
