"""The house rules of DESIGN.md, checked on the source so a new module is covered without
anyone remembering: the app layers, writes-only services, no ORM in views, reasons beside
every cross-app local import and every `.unscoped()`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

APPS = Path(__file__).resolve().parents[2] / "apps"

# Bottom to top. An app imports only from apps in lower layers (never a sibling in its own
# layer); a lower layer reaches a higher one through a hook the higher app registers.
LAYERS = {
    "core": 0,
    "accounts": 0,
    "teams": 1,
    "llm": 2,
    "datasets": 2,
    "prompts": 3,
    "experiments": 4,
    "playground": 5,
    "annotations": 5,
    "traces": 5,
    "optimisation": 6,
}

# Public names in a services module are writes: <noun>_<verb>[_<what>] with one of these verbs.
WRITE_VERBS = (
    "create",
    "update",
    "delete",
    "move",
    "rollback",
    "approve",
    "reject",
    "cancel",
    "grant",
    "revoke",
    "set_role",
    "remove",
    "accept",
    "start",
    "resume",
    "save",
    "claim",
    "skip",
    "decide",
    "assign",
    "ingest",
    "purge",
    "import",
    "test_connection",
    "refresh_models",
    "add",
    "fill",
    "set",
    "run",
    "record",
    "flush",
    "step",
    "abort",
)

WRITE_NAME = re.compile(r"_(" + "|".join(WRITE_VERBS) + r")(_|$)")
PREDICATE_PREFIXES = ("can_", "is_", "has_", "get_", "may_")

ORM_CALL = re.compile(
    r"\.objects\b|\.unscoped\(|\.(filter|exclude|annotate|aggregate|select_related|"
    r"prefetch_related|order_by|values_list|only|defer|in_bulk|bulk_create|"
    r"get_or_create|update_or_create|refresh_from_db)\(|\.(exists|first|last)\(\)"
)


def _modules(app: str | None = None):
    for path in sorted((APPS / app if app else APPS).rglob("*.py")):
        rel = path.relative_to(APPS)
        if "migrations" in rel.parts:
            continue
        yield rel, path.read_text()


def _imports(tree: ast.AST):
    """(module, lineno, inside_a_function) for every import in the tree."""
    out = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                out.append((child.module, child.lineno, in_function))
            elif isinstance(child, ast.Import):
                out.extend((alias.name, child.lineno, in_function) for alias in child.names)
            visit(child, inner)

    visit(tree, False)
    return out


def _is_view_or_api(rel: Path) -> bool:
    parts = rel.parts
    if len(parts) < 2:
        return False
    if parts[1] in ("views", "api"):
        return True
    stem = Path(parts[-1]).stem
    return (
        len(parts) == 2
        and (stem.startswith("views") or stem.startswith("api"))
        and (stem not in ("api_urls",))
    )


def _has_reason(lines: list[str], lineno: int) -> bool:
    """A comment on the line itself or on the line just above it."""
    line = lines[lineno - 1]
    above = lines[lineno - 2].strip() if lineno >= 2 else ""
    return "#" in line or above.startswith("#")


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_it_keeps_every_import_in_a_lower_layer(app):
    upward = []
    for rel, text in _modules(app):
        for module, lineno, _ in _imports(ast.parse(text)):
            parts = module.split(".")
            if parts[0] != "apps" or len(parts) < 2 or parts[1] == app:
                continue
            other = parts[1]
            if LAYERS[other] >= LAYERS[app]:
                upward.append(f"apps/{rel}:{lineno} imports {module} ({app} -> {other})")
    assert upward == []


def test_it_knows_the_layer_of_every_app():
    assert {p.name for p in APPS.iterdir() if (p / "apps.py").exists()} == set(LAYERS)


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_it_gives_a_reason_for_every_local_cross_app_import(app):
    silent = []
    for rel, text in _modules(app):
        lines = text.splitlines()
        for module, lineno, in_function in _imports(ast.parse(text)):
            parts = module.split(".")
            if in_function and parts[0] == "apps" and parts[1] != rel.parts[0]:
                if not _has_reason(lines, lineno):
                    silent.append(f"apps/{rel}:{lineno} {module}")
    assert silent == []


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_it_gives_a_reason_for_every_unscoped_query(app):
    silent = []
    for rel, text in _modules(app):
        lines = text.splitlines()
        for lineno, line in enumerate(lines, start=1):
            if ".unscoped()" in line and "def unscoped" not in line:
                if not _has_reason(lines, lineno):
                    silent.append(f"apps/{rel}:{lineno}")
    assert silent == []


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_it_keeps_services_to_writes(app):
    reads = []
    for rel, text in _modules(app):
        if rel.name != "services.py" and "services" not in rel.parts[1:-1]:
            continue
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = node.name
                if name.startswith("_"):
                    continue
                if name.startswith(PREDICATE_PREFIXES) or not WRITE_NAME.search(name):
                    reads.append(f"apps/{rel}: {name}")
    assert reads == []


@pytest.mark.parametrize("app", sorted(LAYERS))
def test_it_keeps_the_orm_out_of_views_and_api_modules(app):
    queries = []
    for rel, text in _modules(app):
        if not _is_view_or_api(rel):
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            code = line.split("#", 1)[0]
            if ORM_CALL.search(code):
                queries.append(f"apps/{rel}:{lineno}: {line.strip()}")
    assert queries == []


@pytest.mark.parametrize("helper", ["def _can_edit", "def _url(", "def _add_error"])
def test_it_has_no_copied_view_helpers(helper):
    copies = [f"apps/{rel}" for rel, text in _modules() if _is_view_or_api(rel) and helper in text]
    assert copies == []
