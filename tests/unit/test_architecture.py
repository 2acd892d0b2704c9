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
