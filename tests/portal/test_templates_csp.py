"""The project's templates and HTML builders hold nothing the
Content-Security-Policy refuses and nothing marked safe that was built from
text: no ``|safe``, no ``autoescape off``, no inline ``<style>``, ``style=""``,
inline ``<script>`` or event handler attribute."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
TEMPLATES = sorted(
    path
    for path in ROOT.glob("**/templates/**/*.html")
    if ".venv" not in path.parts and "site-packages" not in path.parts
)
FORBIDDEN = {
    "|safe": re.compile(r"\|\s*safe\b"),
    "autoescape off": re.compile(r"{%\s*autoescape\s+off"),
    "inline <style>": re.compile(r"<style\b", re.I),
    'style=""': re.compile(r"\sstyle\s*=", re.I),
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
}


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_nothing_the_policy_refuses(path):
    text = path.read_text(encoding="utf-8")
    found = [name for name, pattern in FORBIDDEN.items() if pattern.search(text)]
    assert found == []


@pytest.mark.parametrize(
    "module", ["accounts/admin.py", "risks/admin.py", "milestones/admin.py"]
)
def test_admin_html_builders_set_no_inline_style(module):
    assert 'style="' not in (ROOT / module).read_text(encoding="utf-8")
