"""Static checks of the widget build and the demo page (no browser needed)."""

from __future__ import annotations

import json
import re

from tests.support.browser import WIDGET_DIR


def test_demo_page_has_no_inline_script_or_handlers() -> None:
    demo = (WIDGET_DIR / "demo" / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", demo), "inline <script> in the demo page"
    assert not re.search(r"\son[a-z]+\s*=", demo, re.I), "inline event handler in the demo page"
    tag = re.search(r"<script[^>]*src=\"/widget\.js\"[^>]*>", demo)
    assert tag, "the demo page does not embed /widget.js"
    for attr in ("data-server", "data-title", "data-lang", "data-position", "data-color", "defer"):
        assert attr in tag.group(0)


def test_bundle_is_self_contained_and_never_writes_html() -> None:
    bundle = WIDGET_DIR / "dist" / "widget.js"
    assert bundle.exists(), "widget not built: cd widget && npm ci && npm run build"
    js = bundle.read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js
    assert not re.search(r"https?://[^\"'`\s]*(cdn|unpkg|jsdelivr|googleapis)", js, re.I), "runtime CDN use"
    assert "c311-root" in js  # the CSS is bundled into the script


def test_package_manifest() -> None:
    pkg = json.loads((WIDGET_DIR / "package.json").read_text())
    assert pkg["scripts"]["build"]
    assert "socket.io-client" in pkg["dependencies"]
    for dev in ("esbuild", "axe-core", "rasa-webchat"):
        assert dev in pkg["devDependencies"]
    assert (WIDGET_DIR / "package-lock.json").exists()
