"""Documentation pointers: every ``docs/<topic>.md`` cited in the repository exists, every section it names
("(docs/method.md, "KTM")") is a heading of that file, and the relative links inside ``docs/`` resolve."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {"output", "datasets", "node_modules", "__pycache__"}
SOURCE_SUFFIXES = {".py", ".md", ".yaml", ".toml"}
# docs/<name>.md, then optionally the quoted section names: , "A" | ("A", "B") | , section "A" | "A" and "B"
CITATION = re.compile(r'docs/([\w-]+\.md)`*((?:(?:,\s*|\s*\(|\s+and\s+)(?:section\s+)?"[^"]{1,80}")*)')
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _sources() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") or part in SKIPPED_DIRS for part in p.relative_to(ROOT).parts))


def _flat(text: str) -> str:
    """Lines joined, so that a citation wrapped over comment or docstring lines reads as one."""
    return re.sub(r"\s*\n\s*(?:#\s+)?", " ", text)


def _headings(doc: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in doc.read_text().splitlines() if line.startswith("#")]


def test_cited_docs_and_sections_exist():
    problems, cited = [], set()
    for path in _sources():
        for name, sections in CITATION.findall(_flat(path.read_text(errors="replace"))):
            doc = ROOT / "docs" / name
            cited.add(name)
            if not doc.is_file():
                problems.append(f"{path.relative_to(ROOT)}: docs/{name} does not exist")
                continue
            headings = _headings(doc)
            problems += [f"{path.relative_to(ROOT)}: docs/{name} has no section {s!r}"
                         for s in re.findall(r'"([^"]+)"', sections) if not any(s in h for h in headings)]
    assert problems == []
    assert {"architecture.md", "method.md", "densepose_format.md", "differences.md", "pretrained.md"} <= cited


def test_links_inside_docs_resolve_and_the_index_lists_every_page():
    broken = [f"{doc.name}: {target}" for doc in sorted((ROOT / "docs").glob("*.md"))
              for target in LINK.findall(doc.read_text())
              if "://" not in target and not (doc.parent / target).exists()]
    assert broken == []
    index = (ROOT / "docs" / "README.md").read_text()
    pages = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.name != "README.md"]
    assert [name for name in pages if f"({name})" not in index] == []


# "§" citations and paths into the sibling folder of design notes (spelled in pieces so this file passes too)
OUTSIDE = re.compile("§|" + re.escape("../" + "shared") + "|" + "shared" + "/(design|reference|golden)")


def test_nothing_cites_documents_outside_the_repository():
    root = Path(__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files"], cwd=root, check=True, capture_output=True, text=True).stdout.split()
    offenders = [name for name in tracked if Path(name).suffix in {".py", ".md", ".yaml", ".toml", ".txt"}
                 and name not in {"tests/test_docs.py", "tests/test_kg_cli.py"}
                 and OUTSIDE.search((root / name).read_text(errors="ignore"))]
    assert offenders == []
