"""The apps depend one way: processing on videos, never videos on processing; mediaplatform owns no app's rules."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module the file imports, at the top or inside a function (TYPE_CHECKING blocks included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def imports_of(app: str, forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / app).rglob("*.py"))
        for line, module in imported_modules(path)
        if module == forbidden or module.startswith(f"{forbidden}.")
    ]


@pytest.mark.parametrize(
    ("app", "forbidden"),
    [("videos", "processing"), ("accounts", "processing"), ("accounts", "notifications"), ("accounts", "videos")],
)
def test_an_app_never_imports_one_that_depends_on_it(app, forbidden):
    assert imports_of(app, forbidden) == []


def test_the_wiring_reads_no_app_model():
    """mediaplatform/ wires apps together; models and business rules stay in the apps."""
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "mediaplatform").rglob("*.py"))
        if path.name != "test_settings.py"
        for line, module in imported_modules(path)
        if module.split(".")[0] in ("videos", "processing", "notifications", "accounts", "audit")
        and module.split(".")[-1] in ("models", "selectors")
    ]
    assert offending == []
