"""The documentation holds together: every relative link in README.md and docs/*.md
reaches a file (and, with ``#anchor``, a heading of it), every page is linked from the
README, the README stays short, code comments that cite a page (and a section of it)
cite ones that exist, and nothing in the repository points outside it."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
# The README is the front door: what it is, the demo, the deploy commands, links.
MAX_README_LINES = 200

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"`[^`]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto: …
# A page cited in code, optionally with a section: docs/design.md "Start-up time".
_CITATION = re.compile(r'docs/([\w-]+\.md)(?: "([^"]+)")?')
_CITING = ("*.py", "Makefile", "Dockerfile.*", "*.yaml", "*.toml", ".ci/run")
# Directories that are not the repository's own files (besides dot-directories such as
# .git, .venv and the demo/rehearsal/benchmark scratch): caches and image builds.
_NOT_OURS = {"__pycache__", "build", "catboost_info"}


def pages() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def prose_lines(page: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines of a Markdown file outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, line


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces → '-'."""
    text = _CODE_SPAN.sub(lambda m: m.group(0)[1:-1], heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for _, line in prose_lines(page):
        match = _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            anchor, n = base, 0
            while anchor in found:  # repeated headings get -1, -2, … as on GitHub
                n += 1
                anchor = f"{base}-{n}"
            found.add(anchor)
    return found


def links(page: Path) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(page):
        for match in _LINK.finditer(_CODE_SPAN.sub("", line)):
            yield number, match.group(1)


def test_docs_folder_has_pages() -> None:
    # Guards the checks below against passing on an empty set.
    assert len(pages()) > 1, f"no Markdown pages found under {DOCS}"


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file (or heading) does not exist."""
    broken = []
    for number, target in links(page):
        if _EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (page.parent / path_part).resolve() if path_part else page
        where = f"{shown(page)}:{number}: {target}"
        if not path.exists():
            broken.append(f"{where}: no such file")
            continue
        if anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{where}: no heading with anchor #{anchor} in {path.name}")
    return broken


@pytest.mark.parametrize("page", pages(), ids=shown)
def test_relative_links_resolve(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_check_finds_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Job logs\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# What `make setup` creates\n"
        "[ok](other.md#job-logs) [ok](#what-make-setup-creates) [web](https://example.com/x)\n"
        "[gone](missing.md) [no heading](other.md#nothing-here) `[code](missing-too.md)`\n"
        "```sh\n# a comment, not a heading\n[in code](missing-three.md)\n```\n"
        "[no heading](#a-comment-not-a-heading)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        f"{page}:3: missing.md: no such file",
        f"{page}:3: other.md#nothing-here: no heading with anchor #nothing-here in other.md",
        f"{page}:8: #a-comment-not-a-heading: no heading with anchor "
        "#a-comment-not-a-heading in page.md",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("What `make setup` creates", "what-make-setup-creates"),
        ("pred1 (CatBoost)", "pred1-catboost"),
        (
            "Real clients, and the fakes that honour them",
            "real-clients-and-the-fakes-that-honour-them",
        ),
        ("Start-up time", "start-up-time"),
    ],
)
def test_slug_is_githubs_anchor(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_readme_links_every_docs_page() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    expected = set(DOCS.glob("*.md"))
    missing = sorted(str(p.relative_to(REPO)) for p in expected - linked)
    assert not missing, f"README.md does not link to {missing}"


def test_readme_is_short() -> None:
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_README_LINES, (
        f"README.md has {lines} lines (at most {MAX_README_LINES}): move detail to docs/"
    )


def repository_files() -> Iterator[Path]:
    """The repository's own files: dot-directories (other than .ci) and caches pruned."""
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in _NOT_OURS and (d == ".ci" or not d.startswith("."))]
        for name in files:
            yield Path(root, name)


def citing_files() -> Iterator[Path]:
    for path in repository_files():
        relative = path.relative_to(REPO).as_posix()
        if any(fnmatch.fnmatch(relative, p) or fnmatch.fnmatch(path.name, p) for p in _CITING):
            yield path


def test_cited_pages_and_sections_exist() -> None:
    broken, cited = [], 0
    for path in citing_files():
        for match in _CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            cited += 1
            page, section = DOCS / match.group(1), match.group(2)
            where = f"{path.relative_to(REPO)}: {match.group(0)}"
            if not page.exists():
                broken.append(f"{where}: no such page")
            elif section and slug(section) not in anchors(page):
                broken.append(f"{where}: no such section")
    assert cited, "no code cites a docs page: the pattern no longer matches"
    assert not broken, "citations of missing docs:\n" + "\n".join(broken)


def test_nothing_points_outside_the_repository() -> None:
    # Spelled in two pieces so that this file does not match itself.
    outside = ("DESIGN" + ".md", ".." + "/shared")
    offenders = [
        f"{path.relative_to(REPO)}: {needle}"
        for path in repository_files()
        for needle in outside
        if needle.encode() in path.read_bytes()
    ]
    assert not offenders, "files pointing outside the repository:\n" + "\n".join(offenders)
