"""The seams between the apps, read from the source: who may import whom.

Every module of every app (and of the project package) is parsed with `ast`; each `import`,
wherever it sits (module level, inside a function, under `if TYPE_CHECKING`), and each
`importlib.import_module` / `__import__` of a literal name counts. Relative imports are resolved
against the module's package. Model string references ("conversations.Message") and
`apps.get_model` are not imports and stay allowed.
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "chatsite"
# The project's URLconf wires the apps' views into URLs: that is its job, not a seam.
WIRES_VIEWS = {"chatsite.urls"}
# Who must not import whom: accounts keeps the ledger and the users, and knows no chat.
FORBIDDEN = {"accounts": ("conversations",)}


def apps() -> list[str]:
    """The project's own apps: top-level packages with an AppConfig module."""
    return sorted(p.parent.name for p in ROOT.glob("*/apps.py"))


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports, dotted and absolute
    line: int

    def __str__(self) -> str:
        path = self.module.replace(".", "/")
        return f"{path}.py:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of a relative import `from <level dots><name> import ...`."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _literal_import(node: ast.Call) -> str | None:
    """The name given to importlib.import_module("...") or __import__("..."), if literal."""
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if called not in {"import_module", "__import__"} or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imports_of(path: Path) -> Iterator[Import]:
    """Every module `path` imports: each `import x`, `from x import y` (as x and x.y)."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                source = _resolve(module, is_package, node.level, node.module)
            yield Import(module, source, node.lineno)
            # `from accounts import views` imports the module accounts.views.
            for alias in node.names:
                yield Import(module, f"{source}.{alias.name}", node.lineno)
        elif isinstance(node, ast.Call) and (name := _literal_import(node)):
            yield Import(module, name, node.lineno)


def project_imports() -> list[Import]:
    found = []
    for package in [*apps(), PROJECT]:
        for path in sorted((ROOT / package).rglob("*.py")):
            found.extend(imports_of(path))
    return found


def app_of(dotted: str) -> str:
    return dotted.split(".", 1)[0]


def is_views(dotted: str) -> bool:
    """A module of views: `views`, or a role-named one such as `share_views`."""
    last = dotted.rsplit(".", 1)[-1]
    return last == "views" or last.endswith("_views")


def within(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def forbidden_app_imports(found: list[Import]) -> list[str]:
    return [
        str(i)
        for i in found
        for banned in FORBIDDEN.get(app_of(i.module), ())
        if within(i.target, banned)
    ]


def other_apps_views_imports(found: list[Import]) -> list[str]:
    own_apps = set(apps())
    return [
        str(i)
        for i in found
        if i.module not in WIRES_VIEWS
        and app_of(i.target) in own_apps
        and app_of(i.target) != app_of(i.module)
        and is_views(i.target)
    ]


def test_accounts_imports_nothing_from_conversations():
    found = forbidden_app_imports(project_imports())
    assert not found, "\n".join(found)


def test_no_module_imports_another_apps_views():
    found = other_apps_views_imports(project_imports())
    assert not found, "\n".join(found)


def test_the_walk_sees_every_kind_of_import(tmp_path, monkeypatch):
    """The walker itself: function-local, relative and literal dynamic imports all count."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    package = tmp_path / "accounts"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from ..views import usage\n")
    (package / "sub" / "mod.py").write_text(
        "import json\n"
        "def price():\n"
        "    from conversations.models import CatalogModel\n"
        "    import conversations.selectors as s\n"
        "    from .. import views\n"
        "    return importlib.import_module('conversations.views')\n"
    )

    targets = {i.target for p in package.rglob("*.py") for i in imports_of(p)}

    assert {
        "accounts.views",
        "accounts.views.usage",
        "conversations.models.CatalogModel",
        "conversations.selectors",
        "conversations.views",
        "json",
    } <= targets
    found = [i for p in sorted(package.rglob("*.py")) for i in imports_of(p)]
    assert len(forbidden_app_imports(found)) == 4  # models, its name, selectors, import_module


def test_the_project_urlconf_may_wire_views():
    wiring = Import("chatsite.urls", "conversations.views", 1)
    stray = Import("chatsite.asgi", "conversations.views", 1)
    reaching = Import("conversations.views", "accounts.share_views", 1)

    assert other_apps_views_imports([wiring, stray, reaching]) == [str(stray), str(reaching)]
