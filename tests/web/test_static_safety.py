"""User text enters the pages only as text: a scan of grid_ui (scripts and templates) that fails
the build when a way of turning a string into markup or code comes back (issue 10, stored XSS
through Leaflet tooltips). Third-party files (Leaflet) are served from xstatic, not from here.

The rules, and why:
- no innerHTML/outerHTML assignment, insertAdjacentHTML, createContextualFragment, DOMParser,
  document.write, srcdoc, jQuery-style .html(): they parse strings as HTML;
- no eval, new Function, setTimeout/setInterval with a string: they run strings as code;
- Leaflet's bindTooltip/bindPopup/setContent/setTooltipContent/setPopupContent parse a string
  argument as HTML, so their first argument must be `label(...)` from console/dom.js (a <span>
  whose textContent is the text);
- no `javascript:` URLs; an href/src/action set from a script must start with a literal "/"
  (our own path) or be an object URL, unless listed in URL_SINKS_REVIEWED with its reason;
- no string event handlers (`el.onclick = "..."`, `{onclick: ...}` attributes);
- templates: no inline event handlers (on…=), no inline <script> other than
  type="application/json" data blocks, no style="…" (the CSP allows neither), no `|safe` and
  no Markup, so Jinja's autoescape holds for every value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "grid_ui" / "static"
TEMPLATES = ROOT / "grid_ui" / "templates"
BACKEND = ROOT / "grid_backend"

LEAFLET_CONTENT = re.compile(
    r"\.(bindTooltip|bindPopup|setContent|setTooltipContent|setPopupContent)\s*\(\s*"
)
JS_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("innerHTML/outerHTML assignment", re.compile(r"\b(innerHTML|outerHTML)\s*\+?=(?!=)")),
    ("insertAdjacentHTML", re.compile(r"\binsertAdjacentHTML\b")),
    ("createContextualFragment", re.compile(r"\bcreateContextualFragment\b")),
    ("DOMParser", re.compile(r"\bDOMParser\b")),
    ("setHTML / parseHTMLUnsafe", re.compile(r"\b(setHTMLUnsafe|setHTML|parseHTMLUnsafe)\b")),
    ("document.write", re.compile(r"\bdocument\s*\.\s*write(ln)?\s*\(")),
    ("srcdoc", re.compile(r"\bsrcdoc\b")),
    ("jQuery-style .html()", re.compile(r"\.html\s*\(")),
    ("eval", re.compile(r"(?<![\w.])eval\s*\(")),
    ("new Function", re.compile(r"\bnew\s+Function\b|(?<![\w.])Function\s*\(")),
    ("string timer", re.compile(r"\bset(Timeout|Interval)\s*\(\s*[\"'`]")),
    ("javascript: URL", re.compile(r"javascript\s*:", re.IGNORECASE)),
    ("string event handler", re.compile(r"\.on[a-z]+\s*=\s*[\"'`]")),
    ("on… attribute", re.compile(r"[{,]\s*[\"']?on[a-z]+[\"']?\s*:")),
    ("on… setAttribute", re.compile(r"setAttribute\(\s*[\"'`]on[a-z]+")),
]
# a URL from a script (an href/src attribute, an href/src/action property): a literal path of
# ours, or an object URL; anything else is reviewed here
URL_SINK = re.compile(r"(?:\b(?:href|src)\s*:|\.(?:href|src|action|formAction)\s*=(?!=))\s*")
SAFE_URL = re.compile(r"""["'`]/(?!/)|URL\.createObjectURL\(""")
URL_SINKS_REVIEWED = {
    # file: {the statement's text: why the URL cannot carry a script}
    "static/field/js/pages/report.js": {
        'h("img", { src: url,': "url = URL.createObjectURL(blob) two lines above",
        ".then((url) => (img.src = url))": (
            "photoURL() answers URL.createObjectURL of the fetched photo (the duplicate offer)"
        ),
    },
    "static/field/js/pages/evacuation.js": {
        "href: geoURL(": "geo: from two numbers (toFixed) and an encodeURIComponent name",
        "href: webRouteURL(": "a fixed https web map, numbers and an encodeURIComponent name",
        "href: telURL(phone)": "tel: with the phone's digits and + only",
    },
    "static/field/js/app.js": {
        "await import(preloaded ? preloaded.href : `./pages/${page}.js`)": (
            "the href of the page's own <link id=page-module>, written by the server from "
            "static_url(); `page` is the body's data-page, one of the field templates' names"
        ),
    },
    "static/field/js/pages/case.js": {
        "img.src = url)": "photoURL() answers URL.createObjectURL of the fetched photo",
        "href: link.url,": "core/mapapps.py builds it (https://uri.amap.com/…, https://api.map"
        ".baidu.com/…, values urlencoded); the page keeps only https:// links",
    },
    "static/field/js/pages/reports.js": {
        "img.src = url)": "photoURL() answers URL.createObjectURL of the fetched photo",
    },
    "static/field/js/pages/inbox.js": {
        "location.href = href;": 'target() answers only "/app/…" paths of this origin',
    },
    "static/console/cases.js": {
        'querySelector("img").src = link.dataset.large;': (
            "data-large is rendered by the server: the photo's /api/v1/media/… URL"
        ),
    },
}

INLINE_HANDLER = re.compile(r"<[a-zA-Z][^>]*\son[a-z]+\s*=", re.DOTALL)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
TEMPLATE_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("inline event handler", INLINE_HANDLER),
    ("style attribute", re.compile(r"<[a-zA-Z][^>]*\sstyle\s*=", re.DOTALL)),
    ("|safe", re.compile(r"\|\s*safe\b")),
    ("Markup", re.compile(r"\bMarkup\b")),
    ("javascript: URL", re.compile(r"javascript\s*:", re.IGNORECASE)),
    ("autoescape off", re.compile(r"autoescape\s+false")),
]


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    text: str


def _strip_comments(source: str) -> str:
    """Comments blanked (kept line for line); `//` only where it cannot be inside a URL."""
    source = re.sub(r"/\*.*?\*/", lambda m: re.sub(r"[^\n]", " ", m.group()), source, flags=re.S)
    return re.sub(r"(^|[\s;{}])//[^\n]*", r"\1", source, flags=re.M)


def _line_of(source: str, offset: int) -> int:
    return source.count("\n", 0, offset) + 1


def _statement(source: str, start: int) -> str:
    end = source.find("\n", start)
    return source[start : end if end >= 0 else len(source)].strip()


def scan_js(source: str, name: str) -> list[Finding]:
    """Every forbidden pattern in one script."""
    code = _strip_comments(source)
    found = []
    for rule, pattern in JS_RULES:
        for m in pattern.finditer(code):
            found.append(
                Finding(name, _line_of(code, m.start()), rule, _statement(code, m.start()))
            )
    for m in LEAFLET_CONTENT.finditer(code):
        if not code.startswith("label(", m.end()):
            found.append(
                Finding(
                    name,
                    _line_of(code, m.start()),
                    f"{m.group(1)} without label()",
                    _statement(code, m.start()),
                )
            )
    reviewed = URL_SINKS_REVIEWED.get(name, {})
    for m in URL_SINK.finditer(code):
        if SAFE_URL.match(code, m.end()):
            continue
        line_start = code.rfind("\n", 0, m.start()) + 1
        line = _statement(code, line_start)
        if any(snippet in line for snippet in reviewed):
            continue
        found.append(Finding(name, _line_of(code, m.start()), "URL from data", line))
    return found


def scan_template(source: str, name: str) -> list[Finding]:
    """Every forbidden pattern in one Jinja template."""
    found = []
    for rule, pattern in TEMPLATE_RULES:
        for m in pattern.finditer(source):
            found.append(Finding(name, _line_of(source, m.start()), rule, m.group()[:80]))
    for m in SCRIPT_TAG.finditer(source):
        attributes = m.group(1)
        if re.search(r"\bsrc\s*=", attributes):
            continue
        if re.search(r"""\btype\s*=\s*["']application/json["']""", attributes):
            continue
        found.append(Finding(name, _line_of(source, m.start()), "inline script", m.group()))
    return found


def scan_python(source: str, name: str) -> list[Finding]:
    """Pages' Python must not mark strings as safe HTML."""
    return [
        Finding(name, _line_of(source, m.start()), "Markup in Python", m.group())
        for m in re.finditer(r"\b(Markup|markupsafe)\b", source)
    ]


def _scripts() -> list[Path]:
    return sorted([*STATIC.rglob("*.js"), *TEMPLATES.rglob("*.js")])


def test_the_scan_sees_every_script_and_template():
    names = {p.relative_to(ROOT / "grid_ui").as_posix() for p in _scripts()}
    assert {"static/console/map.js", "static/console/patrols.js", "templates/field/sw.js"} <= names
    assert "static/field/js/ui.js" in names
    assert len(list(TEMPLATES.rglob("*.html"))) >= 30


def test_no_script_turns_a_string_into_markup_or_code():
    found = []
    for path in _scripts():
        name = path.relative_to(ROOT / "grid_ui").as_posix()
        found += scan_js(path.read_text(encoding="utf-8"), name)
    assert found == [], "\n".join(f"{f.file}:{f.line} {f.rule}: {f.text}" for f in found)


def test_reviewed_url_sinks_still_exist():
    """An allowance outlives its line only by mistake: each must still match its statement."""
    for name, snippets in URL_SINKS_REVIEWED.items():
        source = (ROOT / "grid_ui" / name).read_text(encoding="utf-8")
        for snippet in snippets:
            assert snippet in source, f"{name}: {snippet!r} is gone; drop it from the list"


def test_no_template_has_inline_code_style_or_unescaped_values():
    found = []
    for path in sorted(TEMPLATES.rglob("*")):
        if path.suffix in (".html", ".webmanifest") and path.is_file():
            found += scan_template(path.read_text(encoding="utf-8"), path.name)
    assert found == [], "\n".join(f"{f.file}:{f.line} {f.rule}: {f.text}" for f in found)


def test_no_page_code_marks_strings_safe():
    found = []
    for path in sorted(BACKEND.rglob("*.py")):
        found += scan_python(path.read_text(encoding="utf-8"), path.name)
    assert found == [], found


def test_every_html_template_is_autoescaped():
    from grid_backend.web.templating import environment

    env = environment()
    for path in TEMPLATES.rglob("*.html"):
        assert env.autoescape(path.name) is True, path
    page = env.from_string("<p>{{ name }}</p>").render(name="<img src=x onerror=alert(1)>")
    assert page == "<p>&lt;img src=x onerror=alert(1)&gt;</p>"


# --- the scanner itself: bad snippets are caught, good ones pass ----------------------------

BAD_JS = {
    "layer.bindTooltip(`${p.name} · risk`)": "bindTooltip without label()",
    "marker.bindPopup(name)": "bindPopup without label()",
    "popup.setContent('<b>' + name + '</b>')": "setContent without label()",
    "tooltip.setTooltipContent(p.name)": "setTooltipContent without label()",
    "node.innerHTML = name;": "innerHTML/outerHTML assignment",
    "node.outerHTML += name;": "innerHTML/outerHTML assignment",
    "box.insertAdjacentHTML('beforeend', row)": "insertAdjacentHTML",
    "document.write(x)": "document.write",
    "eval(code)": "eval",
    "const f = new Function('return 1')": "new Function",
    "setTimeout('refresh()', 10)": "string timer",
    "a.href = 'javascript:alert(1)'": "javascript: URL",
    "a.href = item.link;": "URL from data",
    'el("a", { href: p.url })': "URL from data",
    "form.action = next;": "URL from data",
    "button.onclick = 'go()';": "string event handler",
    'el("img", { onerror: "x()" })': "on… attribute",
    "node.setAttribute('onclick', code)": "on… setAttribute",
    "$(row).html(name)": "jQuery-style .html()",
    "new DOMParser().parseFromString(s, 'text/html')": "DOMParser",
    "range.createContextualFragment(s)": "createContextualFragment",
}
GOOD_JS = [
    "layer.bindTooltip(label(p.name, ' · ', t('risk')))",
    "L.marker(at).bindTooltip(label(`${i + 1}. `, c.name), { permanent: true })",
    "node.textContent = name;",
    'h("p", { text: name, on: { click: () => go() } })',
    'el("a", { href: `/console/cases/${c.id}` }, `#${c.id}`)',
    "location.href = `/console/login?next=${encodeURIComponent(path)}`;",
    "img.src = URL.createObjectURL(blob);",
    "setTimeout(() => refresh(), 150)",
    "source.onopen = () => { live.dataset.state = 'on'; };",
    "if (a.innerHTML === b) {}",
    "// layer.bindTooltip(name) in a comment",
    'fetch("http://example.invalid/x") // not a comment start inside the URL',
]


@pytest.mark.parametrize(("snippet", "rule"), list(BAD_JS.items()))
def test_the_scanner_catches_a_bad_script(snippet, rule):
    assert rule in {f.rule for f in scan_js(snippet, "bad.js")}


@pytest.mark.parametrize("snippet", GOOD_JS)
def test_the_scanner_lets_safe_code_pass(snippet):
    assert scan_js(snippet, "good.js") == []


@pytest.mark.parametrize(
    ("snippet", "rule"),
    [
        ('<select name="day" onchange="this.form.submit()">', "inline event handler"),
        ("<img src=x\n  onerror=alert(1)>", "inline event handler"),
        ("<script>alert(1)</script>", "inline script"),
        ('<script type="module">go()</script>', "inline script"),
        ('<span style="width: 3%">', "style attribute"),
        ("{{ risk_point.name | safe }}", "|safe"),
        ("{{ Markup(name) }}", "Markup"),
        ('<a href="javascript:go()">', "javascript: URL"),
        ("{% autoescape false %}{{ x }}{% endautoescape %}", "autoescape off"),
    ],
)
def test_the_scanner_catches_a_bad_template(snippet, rule):
    assert rule in {f.rule for f in scan_template(snippet, "bad.html")}


def test_the_scanner_lets_data_blocks_and_external_scripts_pass():
    good = (
        '<script type="application/json" id="map-config">{{ config | tojson }}</script>\n'
        '<script type="module" src="/static/console/map.js"></script>\n'
        '<select name="area_id" data-autosubmit><option>一</option></select>\n'
        '<svg class="meter"><rect width="42" height="5"/></svg>'
    )
    assert scan_template(good, "good.html") == []
