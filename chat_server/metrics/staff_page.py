"""The frame every staff page shares, filled with each page's own head and body (pure: reads files).

The frame (static/staff/page.html) holds what all staff pages need in the same order: charset and
viewport, the staff scripts (i18n.js, api.js, nav.js, deferred, so they run before the page's own)
and the navigation bar's slot. A page's index.html holds only its own part: its title, stylesheet
and scripts, a `<!-- body -->` line, then its body. The page handler builds the whole page once,
when the app is set up.
"""

from __future__ import annotations

from pathlib import Path

FRAME = Path(__file__).resolve().parent.parent / "static" / "staff" / "page.html"
BODY_MARK = "<!-- body -->"
HEAD_SLOT = "<!-- page head (the frame of every staff page: metrics/staff_page.py fills it) -->"
BODY_SLOT = "<!-- page body -->"


def page_html(page_file: Path, frame: Path = FRAME) -> str:
    head, mark, body = page_file.read_text(encoding="utf-8").partition(BODY_MARK)
    if not mark:
        raise ValueError(f"{page_file}: no {BODY_MARK} line between the page's head and its body")
    return (frame.read_text(encoding="utf-8")
            .replace(HEAD_SLOT, head.strip(), 1)
            .replace(BODY_SLOT, body.strip(), 1))
