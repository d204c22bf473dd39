"""The workbench in a real browser: Playwright driving Debian's Chromium against a real server.

`.ci/run` installs the `chromium` package when it is missing; these tests skip (saying why) only
when there is no Chromium to drive."""
from __future__ import annotations

import shutil

import pytest

from pipeline import open_project
from tests.conftest import WORKBENCH_TRANSCRIPTS as TRANSCRIPTS, codable, document_id

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")
# as root in a container, and with no network: no sandbox, no background connections
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def drag_select(page, text: str, occurrence_of: str | None = None) -> None:
    """Select ``text`` in the document with a real mouse drag, from its first character to its last."""
    boxes = page.evaluate("""(wanted) => {
        const spans = [...document.querySelectorAll('#text span[data-o]')];
        const whole = spans.map((s) => s.textContent).join('');
        const at = whole.indexOf(wanted);
        if (at < 0) return null;
        const point = (index, last) => {
            let seen = 0;
            for (const span of spans) {
                const node = span.firstChild, length = node.data.length;
                if (index < seen + length) {
                    const range = document.createRange();
                    range.setStart(node, index - seen); range.setEnd(node, index - seen + 1);
                    const r = range.getClientRects()[0];
                    return {x: last ? r.right - 1 : r.left + 1, y: r.top + r.height / 2};
                }
                seen += length;
            }
        };
        return [point(at, false), point(at + wanted.length - 1, true)];
    }""", text)
    assert boxes, f"{text!r} is not on the page"
    start, end = boxes
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move((start["x"] + end["x"]) / 2, (start["y"] + end["y"]) / 2, steps=4)
    page.mouse.move(end["x"], end["y"], steps=4)
    page.mouse.up()


def code_names(root) -> dict[str, str]:
    project = open_project(root)
    try:
        return {code.id: code.name for code in project.codebook().codes}
    finally:
        project.close()


def standing(root) -> list[tuple]:
    project = open_project(root)
    try:
        return sorted((c["coder"], c["code"], c["start"], c["end"], c["text"]) for c in project.codings(machine=False))
    finally:
        project.close()


def test_select_a_chinese_span_apply_a_code_and_find_it_after_reload(workbench_server, browser, tmp_path):
    base, root = workbench_server
    page = browser.new_page()
    page.goto(f"{base}/?coder=王老师")
    page.get_by_role("link", name="e01_enterprise").click()
    page.wait_for_selector("#text span[data-o]")
    # a span across the line break between two turns, with full-width punctuation inside
    wanted = "政府给了一部分补贴，但拨付很慢。\n问：还有什么困难？"
    drag_select(page, wanted)
    code = codable(root)[0]
    page.locator(f'button.code[data-code="{code}"]').click()
    page.wait_for_selector("#codings li")
    page.screenshot(path=str(tmp_path / "coded.png"), full_page=True)
    text = TRANSCRIPTS["e01_enterprise.txt"]
    start = text.index(wanted)
    assert standing(root) == [("王老师", code, start, start + len(wanted), wanted)]
    page.reload()
    page.wait_for_selector("#codings li")
    assert page.locator("#codings li .chip").all_inner_texts() == [code_names(root)[code]]
    highlighted = "".join(page.locator("#text span.coded").all_text_contents())
    assert highlighted == wanted


def test_two_coders_code_the_same_unit_at_once_and_both_codings_stay(workbench_server, browser):
    base, root = workbench_server
    first_code, second_code = codable(root)[:2]
    pages = []
    for coder in ("甲", "乙"):
        page = browser.new_context().new_page()
        page.goto(f"{base}/?coder={coder}")
        page.goto(f"{base}/documents/{document_id(root, 'e01_enterprise.txt')}")
        page.wait_for_selector("#text span[data-o]")
        drag_select(page, "学生实习的安全责任")
        pages.append(page)
    # both clicks are sent before either answer is awaited (Playwright's sync API is not for
    # threads; true parallel writes are tested through the HTTP API in test_workbench.py)
    for page, code in zip(pages, (first_code, second_code)):
        page.locator(f'button.code[data-code="{code}"]').click(no_wait_after=True)
    for page in pages:
        page.wait_for_selector("#codings li")
    start = TRANSCRIPTS["e01_enterprise.txt"].index("学生实习的安全责任")
    assert standing(root) == [("乙", second_code, start, start + 9, "学生实习的安全责任"),
                              ("甲", first_code, start, start + 9, "学生实习的安全责任")]
    # each sees the other's coding only when they ask to
    pages[0].reload()
    pages[0].wait_for_selector("#codings li")
    assert pages[0].locator("#codings li .who").all_inner_texts() in (["甲", "乙"], ["乙", "甲"])
    pages[0].locator("#show-others").uncheck()
    pages[0].wait_for_function("document.querySelectorAll('#codings li').length === 1")


def test_a_transcript_with_a_script_tag_renders_it_as_text(workbench_server, browser):
    base, root = workbench_server
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{base}/?coder=王老师")
    page.goto(f"{base}/documents/{document_id(root, 'x01_script.txt')}")
    page.wait_for_selector("#text span[data-o]")
    assert "<script>window.hacked = 1</script>我们做订单班。" in page.locator("#text").inner_text()
    assert page.evaluate("window.hacked") is None and not dialogs
    assert page.locator("#text script").count() == 0


def test_accept_a_machine_suggestion_with_one_click_and_find_the_label_after_reload(workbench_server, browser, tmp_path):
    base, root = workbench_server
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/?coder=王老师")
    page.locator(f'a[href="/documents/{document_id(root, "p01_notice.txt")}"]').click()
    first = page.locator(".review").first
    first.wait_for()
    unit_id = first.get_attribute("data-unit")
    assert "★" in first.locator(".instrument.primary").inner_text()
    first.locator("button.accept").click()
    page.wait_for_selector(f'.review[data-unit="{unit_id}"] .mine')
    page.reload()
    mine = page.locator(f'.review[data-unit="{unit_id}"] .mine')
    mine.wait_for()
    assert "accepted" in mine.inner_text()
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
    project = open_project(root)
    try:
        labels = project.human_instrument_labels()
        machine = {row["unit_id"]: row for row in project.instrument_rows()}[unit_id]
    finally:
        project.close()
    assert [(u["unit_id"], u["labels"], u["primary"], u["coder"]) for u in labels] == [
        (unit_id, set(machine["rule_instruments"]), machine["rule_primary"], "王老师")]
    # the clause holding a <script> tag shows it as text
    assert "<script>window.hacked = 2</script>" in page.locator("#text").inner_text()
    assert page.evaluate("window.hacked") is None
