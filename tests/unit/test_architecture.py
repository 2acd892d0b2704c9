"""The layers point inward: the domain is pure, the application talks only to its ports."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

DOMAIN_ALLOWED = {
    "collections", "dataclasses", "datetime", "decimal", "enum", "functools", "hashlib", "hmac", "itertools",
    "math", "re", "typing", "uuid", "msgspec", "domain", "__future__", "abc", "operator",
    "ipaddress",  # parsing and classifying addresses only; it does no I/O
    "base64", "binascii",  # checking image data URIs: decoding only, no I/O
}  # fmt: skip
APPLICATION_FORBIDDEN = {
    "adapters", "entrypoints", "httpx", "psycopg", "psycopg_pool", "litestar", "structlog", "cryptography",
    "jwt", "argon2", "uvicorn", "aiohttp", "redis", "pgserver",
}  # fmt: skip


def imported_roots(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def test_domain_imports_only_stdlib_basics_and_msgspec() -> None:
    bad = {name: files for name, files in imported_roots("domain").items() if name not in DOMAIN_ALLOWED}
    assert bad == {}


def test_application_imports_no_adapter_driver_or_framework() -> None:
    bad = {name: files for name, files in imported_roots("application").items() if name in APPLICATION_FORBIDDEN}
    assert bad == {}


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _module_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _first_cycle(graph: dict[str, set[str]]) -> tuple[str, ...] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, trail: tuple[str, ...]) -> tuple[str, ...] | None:
        if state.get(name) == 2:
            return None
        if state.get(name) == 1:
            return (*trail, name)
        state[name] = 1
        for target in sorted(graph[name]):
            if (cycle := visit(target, (*trail, name))) is not None:
                return cycle
        state[name] = 2
        return None

    for name in sorted(graph):
        if (cycle := visit(name, ())) is not None:
            return cycle
    return None


def test_no_import_cycle_between_modules_of_a_package() -> None:
    """Within each layer, module imports form no cycle (deferred imports included)."""
    for layer in ("domain", "application", "adapters", "entrypoints"):
        modules = {
            ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
            for path in (ROOT / layer).rglob("*.py")
        }
        graph = {
            name: {m for m in _module_imports(path) if m in modules and m != name} for name, path in modules.items()
        }
        cycle = _first_cycle(graph)
        assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_the_product_imports_no_test_support() -> None:
    """Test machinery (the fake provider server, fixtures) ships in ``tests/``, never in the product."""
    for layer in ("domain", "application", "adapters", "entrypoints"):
        assert "tests" not in imported_roots(layer), f"{layer} imports from tests"
