"""The staff pages are served as one frame (static/staff/page.html) around each page's own part.

The browser tests (test_staff_pages.py, test_staff_i18n_pages.py) check that the pages work; these
check the assembly itself: the frame's charset comes first, the shared staff scripts run before the
page's own (deferred scripts run in document order), nothing of the slots or the marker is left,
and a page file without its `<!-- body -->` line stops the start with a message naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chat_server.metrics.staff_page import BODY_MARK, page_html

STATIC = Path(__file__).resolve().parent.parent / "chat_server" / "static"
PAGES = ("content", "incidents", "supervisor", "training")


@pytest.mark.parametrize("page", PAGES)
def test_a_page_is_the_frame_around_its_own_head_and_body(page: str) -> None:
    html = page_html(STATIC / page / "index.html")
    assert html.startswith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
    head, body = html.split("</head>\n<body>\n")
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', head)
    assert scripts[:3] == ["/static/staff/i18n.js", "/static/staff/api.js", "/static/staff/nav.js"]
    assert len(scripts) > 3 and all(s.startswith(f"/static/{page}/") for s in scripts[3:]), scripts
    assert head.count("<title ") == 1 and f'href="/static/{page}/{page}.css"' in head
    assert body.startswith('<nav id="staff-nav" aria-label="Staff pages"></nav>\n<header class="bar">')
    assert body.endswith("</main>\n</body>\n</html>\n")
    assert "<!--" not in html


def test_a_page_file_without_its_body_line_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<title>x</title>\n<main></main>\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{page}: no {BODY_MARK} line")):
        page_html(page)
