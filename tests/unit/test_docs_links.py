"""Every relative link of the README and of ``docs/`` reaches a file, and an ``#anchor`` reaches
a heading of that file, slugged as GitHub slugs it.

Links inside code (fenced blocks, inline spans) are not links and are left out; so are
absolute URLs. A page that moves or a heading that is renamed fails here until every link to it
is fixed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text outside code: fenced blocks and inline code spans removed."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings; a repeated heading gets -1, -2 … as on GitHub."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in FENCE.sub("", path.read_text("utf-8")).splitlines():
        match = re.match(r"#{1,6} (.+?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(prose(path.read_text("utf-8")))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: …
    ]


def test_the_slugs_are_githubs() -> None:
    assert slug("Security model — what is and is not protected") == (
        "security-model--what-is-and-is-not-protected"
    )
    assert slug("Preview (airlock) nodes and scripts") == "preview-airlock-nodes-and-scripts"
    assert slug("The `sealroom` command") == "the-sealroom-command"
    assert slug("A few lines of SDK") == "a-few-lines-of-sdk"


def test_links_inside_code_are_not_links() -> None:
    text = "see [a](b.md) and `[c](d.md)`\n```\n[e](f.md)\n```\n"
    assert LINK.findall(prose(text)) == ["b.md"]


def test_the_readme_links_every_page_of_docs() -> None:
    linked = {target.split("#")[0] for target in relative_links(ROOT / "README.md")}
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, anchor = target.partition("#")
        destination = (page.parent / file_part).resolve() if file_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert broken == [], f"{page.relative_to(ROOT)} has broken links: {broken}"
