"""Every link a page shows its reader opens: each role follows every link on every page it
reaches from its start page and none answers 4xx or 5xx. A link to a page the reader may not
open is a dead end to them (the process engineer saw sample codes as links, each a 403)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest

from tests.web import seed
from tests.web.test_pages import _certify, log_in

HREF = re.compile(r'href="([^"#]*)"')


def crawl(client, start: str = "/", limit: int = 400) -> dict[str, int]:
    """Status of every page reachable by links from start; a page that differs from another
    only by its query's values (a sort order, a page number, a filter) is opened once."""
    statuses: dict[str, int] = {}
    shapes: set[tuple[str, tuple[str, ...]]] = set()
    todo = [start]
    while todo and len(statuses) < limit:
        path = todo.pop(0)
        answer = client.get(path, follow_redirects=True)
        statuses[path] = answer.status_code
        if answer.status_code >= 400 or not answer.content_type.startswith("text/html"):
            continue
        for href in HREF.findall(answer.get_data(as_text=True)):
            link = urlsplit(urljoin(f"http://localhost{path}", href.replace("&amp;", "&")))
            if link.netloc != "localhost" or link.path.startswith("/static/"):
                continue
            shape = (link.path, tuple(sorted(k for k, _ in parse_qsl(link.query))))
            if shape not in shapes:
                shapes.add(shape)
                todo.append(link.path + (f"?{link.query}" if link.query else ""))
    return statuses


@pytest.mark.parametrize("username", ["polyvorm", "tech", "reviewer", "engineer", "admin"])
def test_no_link_on_any_page_a_role_reaches_is_broken_or_forbidden(app, client, session_factory, username):
    seed.seed_reference(session_factory)
    codes = seed.lot_with_samples(session_factory, 2).sample_codes
    _certify(app, session_factory, codes[1])
    log_in(client, username)
    statuses = crawl(client)
    assert len(statuses) > 1
    assert {path: status for path, status in statuses.items() if status >= 400} == {}
