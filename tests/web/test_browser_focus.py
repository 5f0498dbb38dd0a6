"""A lab technician moving through a form with the Tab key (a scanner in the other hand) must
see where the focus is, and a field must be seen as a field: the focus ring and the edge of a
field or button stand out 3:1 from what surrounds them (WCAG 2.4.7, 1.4.11), which axe-core
does not measure."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page

from tests.web import seed
from tests.web.test_browser import login

pytestmark = pytest.mark.browser

PAGES = ["/lab/lots/new", "/lab/samples", "/lab/receive", "/account/password"]

# The colour an element is drawn on: its first ancestor's background that is not transparent.
BEHIND = """(el) => {
  for (let e = el.parentElement; e; e = e.parentElement) {
    const bg = getComputedStyle(e).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(bg) && bg !== "transparent") return bg;
  }
  return "rgb(255, 255, 255)";
}"""

FOCUSED = f"""() => {{
  const el = document.activeElement, cs = getComputedStyle(el);
  return {{what: el.outerHTML.slice(0, 90), style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
           color: cs.outlineColor, behind: ({BEHIND})(el)}};
}}"""

FIELDS = f"""() => [...document.querySelectorAll("input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea, button:not(.linklike), a.button")]
  .filter((el) => el.offsetParent !== null)
  .map((el) => {{ const cs = getComputedStyle(el);
    return {{what: el.outerHTML.slice(0, 90), border: cs.borderTopColor, fill: cs.backgroundColor, behind: ({BEHIND})(el)}}; }})"""


def contrast(a: str, b: str) -> float:
    def luminance(css: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def tab_through(page: Page, stops: int = 25) -> list[dict]:
    page.locator("body").focus()
    seen = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        seen.append(page.evaluate(FOCUSED))
    # Past the last stop the focus leaves the page for the browser's own controls.
    return [f for f in seen if not f["what"].startswith("<body")]


def test_a_keyboard_user_sees_the_focus_on_every_link_field_and_button(live_server, browser_page, session_factory):
    seed.seed_reference(session_factory)
    page = browser_page
    page.goto(f"{live_server}/login")
    focused = tab_through(page, 6)
    login(page, live_server, "tech")
    for path in PAGES:
        page.goto(f"{live_server}{path}")
        focused += tab_through(page)
    # Chromium's own ring ("auto") is drawn in two colours, one of which always stands out.
    faint = [f for f in focused if f["style"] != "auto" and (f["style"] == "none" or f["width"] < 2 or contrast(f["color"], f["behind"]) < 3)]
    assert faint == [], f"{len(faint)} faint focus rings: {faint[:5]}"


def test_fields_and_buttons_are_seen_as_such_against_the_page(live_server, browser_page, session_factory):
    seed.seed_reference(session_factory)
    page = browser_page
    page.goto(f"{live_server}/login")
    fields = page.evaluate(FIELDS)
    login(page, live_server, "tech")
    for path in PAGES:
        page.goto(f"{live_server}{path}")
        fields += page.evaluate(FIELDS)
    # A field's or button's edge, or its own fill, must stand out from the page behind it.
    unseen = [f for f in fields if max(contrast(f["border"], f["behind"]), contrast(f["fill"], f["behind"])) < 3]
    assert unseen == [], f"{len(unseen)} fields or buttons without a visible edge: {unseen[:5]}"
