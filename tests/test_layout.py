"""The workspace's shape (docs/adr/0001): no service imports another; contracts and kit stay domain-free."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())


def imported_packages(src: Path) -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for py in src.rglob("*.py"):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                found.setdefault(n.split(".")[0], set()).add(py.relative_to(ROOT))
    return found


def test_the_five_services_of_the_design_exist() -> None:
    assert {"intake", "routing", "risk", "mediation", "notify"} <= set(SERVICES)


def test_no_service_imports_another() -> None:
    for name in SERVICES:
        imports = imported_packages(ROOT / "services" / name / "src")
        others = {f"yima_{o}" for o in SERVICES if o != name} & set(imports)
        assert not others, f"service {name} imports {others}: {[imports[o] for o in others]}"


def test_contracts_depend_on_pydantic_only() -> None:
    imports = set(imported_packages(ROOT / "contracts" / "src"))
    third_party = {i for i in imports if not i.startswith("yima_contracts")} - {
        "__future__", "json", "re", "secrets", "sys", "unicodedata", "datetime", "typing", "uuid", "enum", "pathlib"}
    assert third_party == {"pydantic"}, third_party


def test_kit_knows_no_service() -> None:
    imports = imported_packages(ROOT / "libs" / "kit" / "src")
    assert not {f"yima_{s}" for s in SERVICES} & set(imports)
    assert "motor" not in imports


def test_nobody_uses_motor() -> None:
    for pkg in [ROOT / "contracts", ROOT / "libs", ROOT / "services", ROOT / "tools"]:
        assert "motor" not in imported_packages(pkg), f"motor imported under {pkg}"


# --- issue 19: rooms of one size, pure cores, collections behind adapters ------------------------------------------
#
# Each rule below lists today's offenders by name in a KNOWN_… set. A service that is reshaped removes its entries; a
# new offender fails at once, and so does an entry that no longer offends (delete it: the lists only shrink).

SOURCE_ROOTS = [ROOT / "contracts" / "src", ROOT / "libs" / "kit" / "src", ROOT / "tools" / "devstack" / "src",
                *(ROOT / "services" / s / "src" for s in SERVICES)]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
IMPURE_IN_CORE = {"pymongo", "motor", "faststream", "fastapi", "starlette", "subprocess", "httpx", "aiokafka"}
WIRING_MODULES = {"app.py", "__main__.py", "cli.py"}  # a service's wiring may assemble its adapters
# Methods only a PyMongo collection has (`.find(` is judged by its arguments: str.find is everywhere).
COLLECTION_METHODS = {
    "find_one", "find_one_and_update", "find_one_and_replace", "find_one_and_delete", "insert_one", "insert_many",
    "update_one", "update_many", "replace_one", "delete_one", "delete_many", "count_documents",
    "estimated_document_count", "aggregate", "bulk_write", "create_index", "create_indexes", "drop_index",
    "get_collection", "distinct", "watch",
}
FIND_KEYWORDS = {"session", "projection", "sort", "limit", "skip", "filter", "batch_size", "hint"}

KNOWN_LONG_FILES: set[str] = set()
KNOWN_LONG_FUNCTIONS: set[str] = set()
KNOWN_IMPURE_CORE: set[str] = set()
KNOWN_ADAPTER_IMPORTS: set[str] = set()
KNOWN_COLLECTION_ACCESS: set[str] = set()


def source_files() -> list[Path]:
    return sorted(p for root in SOURCE_ROOTS for p in root.rglob("*.py") if not _generated(p))


def service_files() -> list[Path]:
    return sorted(p for s in SERVICES for p in (ROOT / "services" / s / "src").rglob("*.py"))


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _generated(path: Path) -> bool:
    head = path.read_text(encoding="utf-8").splitlines()[:5]
    return any("generated" in line.lower() and "do not edit" in line.lower() for line in head)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _parts_after_package(path: Path) -> tuple[str, ...]:
    """``services/x/src/yima_x/adapters/http.py`` → ``("adapters", "http.py")``."""
    parts = path.relative_to(ROOT).parts
    return parts[parts.index("src") + 2 :]


def _check(rule: str, found: dict[str, str], known: set[str], fix: str) -> None:
    """``found``: offender → what it does (shown, not compared). ``known``: offenders allowed for now."""
    new, stale = sorted(set(found) - known), sorted(known - set(found))
    problems = []
    if new:
        problems.append(f"{rule}: new offenders — {fix}:\n  " + "\n  ".join(f"{k}  {found[k]}" for k in new))
    if stale:
        problems.append(f"{rule}: these no longer offend — delete them from the exemption list in "
                        "tests/test_layout.py:\n  " + "\n  ".join(stale))
    assert not problems, "\n".join(problems)


def _functions(tree: ast.AST, prefix: str = "") -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    out: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            out.append((prefix + node.name, node))
            out += _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            out += _functions(node, f"{prefix}{node.name}.")
        else:
            out += _functions(node, prefix)
    return out


def _imports(tree: ast.AST, path: Path) -> set[str]:
    """Absolute dotted names of every module ``path`` imports (relative imports resolved)."""
    package = list(path.relative_to(ROOT).parts[list(path.relative_to(ROOT).parts).index("src") + 1 : -1])
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}  # `from . import adapters`
    return out


def _collection_calls(tree: ast.AST) -> list[str]:
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and _names_db(node.value):
            found.append((node.lineno, node.col_offset, f"{ast.unparse(node)} (line {node.lineno})"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, args = node.func.attr, node.args
            finds = name == "find" and (not args or isinstance(args[0], ast.Dict | ast.DictComp)
                                        or any(k.arg in FIND_KEYWORDS for k in node.keywords))
            if name in COLLECTION_METHODS or finds:
                found.append((node.lineno, node.col_offset, f".{name}( (line {node.lineno})"))
    return [text for *_, text in sorted(found)]


def _names_db(node: ast.expr) -> bool:
    """``db``, ``self.db``, ``rt.db``, ``client[...]``-style handles whose subscript is a collection."""
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name == "db" or name.endswith("_db")


def test_no_source_file_over_500_lines() -> None:
    lengths = {_rel(p): len(p.read_text(encoding="utf-8").splitlines()) for p in source_files()}
    found = {path: f"({n} lines)" for path, n in lengths.items() if n > MAX_FILE_LINES}
    _check("files over 500 lines", found, KNOWN_LONG_FILES,
           "split the module into rooms along its own sections (aim ≤ 400 lines; docs/adr/0115)")


def test_no_function_over_60_lines() -> None:
    found = {}
    for path in source_files():
        for qualname, fn in _functions(_tree(path)):
            n = (fn.end_lineno or fn.lineno) - fn.lineno + 1
            if n > MAX_FUNCTION_LINES:
                found[f"{_rel(path)}::{qualname}"] = f"({n} lines)"
    _check("functions over 60 lines", found, KNOWN_LONG_FUNCTIONS,
           "give the function named steps (a router: one module per route group, routes at module level reaching "
           "the service through a FastAPI dependency, as services/intake/src/yima_intake/adapters does)")


def test_core_is_pure() -> None:
    found = {}
    for path in service_files():
        if _parts_after_package(path)[:1] != ("core",):
            continue
        imports = _imports(_tree(path), path)
        bad = sorted({m.split(".")[0] for m in imports if m.split(".")[0] in IMPURE_IN_CORE}
                     | {"adapters" for m in imports if ".adapters" in m})
        if bad:
            found[_rel(path)] = f"(imports {', '.join(bad)})"
    _check("impure core/ modules", found, KNOWN_IMPURE_CORE,
           "core/ holds the rules only: move database, framework, broker, HTTP-client and subprocess work into "
           "adapters/ behind a port (ports.py) or into the devstack")


def test_no_adapter_imported_by_an_application_module() -> None:
    found = {}
    for path in service_files():
        parts = _parts_after_package(path)
        if parts[0] == "adapters" or (len(parts) == 1 and parts[0] in WIRING_MODULES):
            continue
        package = path.relative_to(ROOT).parts[path.relative_to(ROOT).parts.index("src") + 1]
        adapters = {m for m in _imports(_tree(path), path)
                    if m.startswith(f"{package}.adapters.")}
        bad = sorted(m for m in adapters if not any(m.startswith(f"{o}.") for o in adapters))
        if bad:
            found[_rel(path)] = f"(imports {', '.join(bad)})"
    _check("adapters imported by application modules", found, KNOWN_ADAPTER_IMPORTS,
           "declare what the application needs as a Protocol in ports.py, implement it in adapters/, and hand the "
           "adapter in from the wiring module (app.py)")


def test_no_collection_access_outside_adapters() -> None:
    found = {}
    for path in service_files():
        if _parts_after_package(path)[0] == "adapters":
            continue
        calls = _collection_calls(_tree(path))
        if calls:
            found[_rel(path)] = f"({len(calls)}: {', '.join(calls[:5])}{', …' if len(calls) > 5 else ''})"
    _check("collection access outside adapters/", found, KNOWN_COLLECTION_ACCESS,
           "give the repository (ports.py) a method that says what the use case needs and implement it in "
           "adapters/ (services/intake/src/yima_intake/adapters/mongo_repo.py is the model)")


def test_the_collection_detector_sees_what_it_must() -> None:
    """The rule above is only as good as its detector: it flags these and leaves str.find alone."""
    seen = _collection_calls(ast.parse(
        "db['cases']\nself.db['x']\nawait col.find_one({})\ncol.find({'a': 1})\ncol.find(q, session=s)\n"
        "self.db.get_collection('c')\n'abc'.find('b')\ntext.find(word)\n"))
    assert [s.split(" (line")[0] for s in seen] == [
        "db['cases']", "self.db['x']", ".find_one(", ".find(", ".find(", ".get_collection("]


def test_no_import_circle_in_contracts_or_kit() -> None:
    """Imports inside functions count too: hiding a circle in a function body does not break it."""
    for root, package in ((ROOT / "contracts" / "src", "yima_contracts"), (ROOT / "libs" / "kit" / "src", "yima_kit")):
        modules = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): p
                   for p in (root / package).rglob("*.py")}
        graph = {m: {i for i in _imports(_tree(p), p) if i in modules and i != m
                     and i != package} for m, p in modules.items()}
        state: dict[str, int] = {}

        def visit(m: str, trail: list[str], graph: dict[str, set[str]] = graph, state: dict[str, int] = state) -> None:
            if state.get(m) == 2:
                return
            assert state.get(m) != 1, f"import circle: {' → '.join([*trail, m])}; move the shared piece below both"
            state[m] = 1
            for n in sorted(graph[m]):
                visit(n, [*trail, m], graph, state)
            state[m] = 2

        for m in sorted(graph):
            visit(m, [])
