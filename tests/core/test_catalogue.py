"""Every error text given in the code has its entry in the one message catalogue
(grid_ui/translations/zh_CN/LC_MESSAGES/messages.po), and a translation keeps the msgid's
`%(name)s` placeholders (or says, in a `#.` comment, that it leaves the values out).

An English text that clients see in English in both languages today has an entry with an
empty msgstr, marked `#. English in both languages`: adding a translation is then a visible
change, made on purpose."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "grid_backend"
PO = ROOT / "grid_ui" / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
ENGLISH_ONLY = "English in both languages"
LEAVES_OUT = "the zh-CN text leaves out values the English gives"
PLACEHOLDER = re.compile(r"%\((\w+)\)")

# callable -> index of the positional detail (None: keyword `detail=` only)
CALLS = {
    "invalid": 1,
    "DomainError": None,
    "Conflict": None,
    "NotFound": None,
    "Forbidden": 0,
    "PhotoRejected": 1,
    "Open311Error": 1,  # grid_backend/open311: (status, description)
}


def _name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and _name(node) == "N_" and node.args:
        return _literal(node.args[0])
    return None


def _details(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _name(node) not in CALLS:
            continue
        values = [k.value for k in node.keywords if k.arg == "detail"]
        index = CALLS[_name(node)]
        if index is not None and len(node.args) > index:
            values.append(node.args[index])
        found += [(node.lineno, text) for v in values if (text := _literal(v)) is not None]
    return found


def _titles(tree: ast.AST) -> list[tuple[int, str]]:
    """The values of core/errors.TITLES (and other N_() marks in the module)."""
    return [
        (node.lineno, text)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _name(node) == "N_"
        for text in [_literal(node)]
        if text is not None
    ]


def _texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(ROOT)
        texts += [(f"{where}:{line}", text) for line, text in _details(tree) + _titles(tree)]
    return texts


def _catalogue() -> dict[str, tuple[str, list[str]]]:
    with PO.open("rb") as handle:
        return {
            m.id: (m.string, list(m.auto_comments))
            for m in read_po(handle)
            if m.id and isinstance(m.id, str)
        }


def test_every_error_text_is_in_the_catalogue() -> None:
    catalogue = _catalogue()
    missing = []
    for where, text in _texts():
        string, comments = catalogue.get(text, ("", []))
        if not string and ENGLISH_ONLY not in comments:
            missing.append(f"{where}: {text!r}")
    assert not missing, "no zh_CN translation in messages.po:\n" + "\n".join(missing)


def test_translations_keep_the_placeholders() -> None:
    wrong = []
    for msgid, (string, comments) in _catalogue().items():
        if not string or not isinstance(string, str):
            continue
        wanted, given = set(PLACEHOLDER.findall(msgid)), set(PLACEHOLDER.findall(string))
        if given - wanted or (wanted - given and LEAVES_OUT not in comments):
            wrong.append(f"{msgid!r}: {string!r}")
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_the_scan_finds_the_texts() -> None:
    texts = {text for _, text in _texts()}
    assert "Not found" in texts  # a title
    assert "at most %(limit)s photos" in texts  # an invalid() detail


def test_every_label_and_template_is_translated_under_its_context() -> None:
    from grid_backend.core import i18n
    from grid_backend.flows.cases import _POINT_REASONS
    from grid_backend.hazards.workflow import PLAIN_STATUS
    from grid_backend.notify import kinds
    from grid_backend.stats import labels
    from grid_backend.web.i18n import DUTY_NAMES

    tables = [(t.context, t) for t in vars(labels).values() if isinstance(t, labels.Labels)]
    tables += [
        ("plain status", PLAIN_STATUS),
        ("points notice", _POINT_REASONS),
        ("duty", DUTY_NAMES),
        (kinds.NOTIFICATION, {k.code: k.title for k in kinds.KINDS.values()}),
        (kinds.NOTIFICATION, {k.code: k.body for k in kinds.KINDS.values()}),
    ]
    zh = i18n.catalog("zh-CN")
    missing = [
        f"{context}: {text!r}"
        for context, table in tables
        for text in table.values()
        if not zh.get(f"{context}\x04{text}")
    ]
    assert len(tables) >= 23  # the label tables of stats/labels.py are found
    assert not missing, "no zh_CN translation in messages.po:\n" + "\n".join(missing)


def test_no_message_is_in_the_catalogue_twice() -> None:
    """A message given twice is read as one of its translations, silently (two merges once
    left "Urgent case" as both 紧急事件 and 紧急案件, and "no such grid" twice)."""
    seen: dict[tuple[str | None, str], int] = {}
    twice = []
    context = None
    for number, line in enumerate(PO.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("msgctxt "):
            context = line[len("msgctxt ") :]
        elif line.startswith("msgid ") and line != 'msgid ""':
            key = (context, line[len("msgid ") :])
            if key in seen:
                twice.append(f"{key[1]} (lines {seen[key]} and {number})")
            seen[key] = number
            context = None
    assert twice == []
