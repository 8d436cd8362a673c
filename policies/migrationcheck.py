"""Expand/contract, read from the migrations themselves.

During a rollout the previous release still runs against the new schema, so a migration may only
*expand* it. This module reads each migration's ``migrate()`` with :mod:`ast` (``rollback()`` is
exempt) and finds the contract operations, both migrator calls and the SQL text passed to
``migrator.sql``:

* dropping a table or a column (``remove_model``, ``remove_fields``, ``DROP TABLE``,
  ``ALTER TABLE ... DROP [COLUMN]``);
* renaming a table or a column (``rename_table``, ``rename_field``, ``ALTER TABLE ... RENAME``);
* adding a NOT NULL column without a default (``add_fields`` with a field that is neither
  ``null=True`` nor has a ``default``, ``ADD [COLUMN] ... NOT NULL`` without ``DEFAULT``), or
  making an existing column NOT NULL (``add_not_null``, ``ALTER COLUMN ... SET NOT NULL``).

A module-level ``CONTRACT_STEP = True`` marks a migration as the contract step of the two-release
procedure in docs/runbooks.md; it is then allowed all of the above.

SQL text is evaluated statically: literals, f-strings (an expression the reader cannot resolve
becomes ``?``), module-level constants, loops over lists, ``+`` and calls to functions of the
migration or of a project module it imports whose result is a ``return`` expression. A
``migrator.sql`` argument that cannot be read at all is refused, since it cannot be checked.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "CONTRACT_STEP"


class _Unknown:
    def __repr__(self) -> str:
        return "?"


UNKNOWN = _Unknown()
HOLE = "?"


@dataclass(frozen=True)
class FieldSpec:
    """A peewee field constructor call, as far as nullability goes."""

    kind: str
    nullable: bool
    has_default: bool


@dataclass(frozen=True)
class Finding:
    line: int
    message: str


DROP_OPS = {"remove_model": "table", "drop_table": "table"}
DROP_FIELD_OPS = {"remove_fields", "drop_columns"}
RENAME_FIELD_OPS = {"rename_field", "rename_column"}
RENAME_TABLE_OPS = {"rename_table"}
ADD_FIELD_OPS = {"add_fields", "add_columns"}
CHANGE_FIELD_OPS = {"change_fields", "change_columns"}
NOT_NULL_OPS = {"add_not_null"}


# ----- static evaluation -----------------------------------------------------------------------


class Module:
    """A parsed Python module of the project, for resolving names and functions statically."""

    def __init__(self, path: Path, root: Path) -> None:
        self.path = path
        self.root = root
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.assigns: dict[str, ast.expr] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.imports: dict[str, str] = {}  # local name -> dotted module
        for node in self.tree.body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigns[target.id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.assigns[node.target.id] = node.value
            elif isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = alias.name
        self._modules: dict[str, Module | None] = {}

    def module(self, dotted: str) -> Module | None:
        if dotted not in self._modules:
            rel = Path(*dotted.split("."))
            candidates = [self.root / rel.with_suffix(".py"), self.root / rel / "__init__.py"]
            found = next((c for c in candidates if c.is_file()), None)
            self._modules[dotted] = Module(found, self.root) if found else None
        return self._modules[dotted]

    def constant(self, name: str) -> Any:
        """A module-level constant's value (literal expressions only)."""
        node = self.assigns.get(name)
        if node is None:
            return UNKNOWN
        return Evaluator(self).value(node, {})


class Evaluator:
    def __init__(self, module: Module, depth: int = 0) -> None:
        self.module = module
        self.depth = depth

    def value(self, node: ast.expr, env: dict[str, Any]) -> Any:
        if self.depth > 8:
            return UNKNOWN
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(self._fpart(p, env) for p in node.values)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.value(e, env) for e in node.elts]
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id in self.module.assigns:
                return self.module.constant(node.id)
            return UNKNOWN
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return _add(self.value(node.left, env), self.value(node.right, env))
        if isinstance(node, ast.Call):
            return self._call(node, env)
        return UNKNOWN

    def _fpart(self, part: ast.expr, env: dict[str, Any]) -> str:
        if isinstance(part, ast.Constant):
            return str(part.value)
        if isinstance(part, ast.FormattedValue):
            v = self.value(part.value, env)
            return str(v) if isinstance(v, (str, int, float)) and not isinstance(v, bool) else HOLE
        return HOLE

    def _call(self, node: ast.Call, env: dict[str, Any]) -> Any:
        func = node.func
        name = _field_kind(func)
        if name:
            return _field_spec(name, node)
        if isinstance(func, ast.Attribute):
            receiver = self.value(func.value, env)
            if func.attr == "replace" and len(node.args) == 2:
                old, new = (self.value(a, env) for a in node.args)
                if isinstance(receiver, str) and isinstance(old, str) and isinstance(new, str):
                    return receiver.replace(old, new)
                return HOLE if receiver is UNKNOWN or isinstance(receiver, str) else UNKNOWN
            if func.attr == "join" and isinstance(receiver, str) and len(node.args) == 1:
                items = self.value(node.args[0], env)
                if isinstance(items, list) and all(isinstance(i, str) for i in items):
                    return receiver.join(items)
                return HOLE
            if isinstance(func.value, ast.Name) and func.value.id in self.module.imports:
                target = self.module.module(self.module.imports[func.value.id])
                if target is not None and func.attr in target.functions:
                    return self._apply(target, target.functions[func.attr], node, env)
            return UNKNOWN
        if isinstance(func, ast.Name) and func.id in self.module.functions:
            return self._apply(self.module, self.module.functions[func.id], node, env)
        if isinstance(func, ast.Name) and func.id in ("list", "tuple") and node.args:
            v = self.value(node.args[0], env)
            return v if isinstance(v, list) else UNKNOWN
        return UNKNOWN

    def _apply(
        self, module: Module, fn: ast.FunctionDef, call: ast.Call, env: dict[str, Any]
    ) -> Any:
        local: dict[str, Any] = {}
        params = [a.arg for a in fn.args.posonlyargs + fn.args.args]
        for param, arg in zip(params, call.args, strict=False):
            local[param] = self.value(arg, env)
        for kw in call.keywords:
            if kw.arg:
                local[kw.arg] = self.value(kw.value, env)
        inner = Evaluator(module, self.depth + 1)
        for stmt in fn.body:
            if isinstance(stmt, ast.Assign):
                v = inner.value(stmt.value, local)
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        local[target.id] = v
            elif isinstance(stmt, ast.Return) and stmt.value is not None:
                return inner.value(stmt.value, local)
        return UNKNOWN


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, str) or isinstance(b, str):
        left = a if isinstance(a, str) else HOLE
        right = b if isinstance(b, str) else HOLE
        return left + right
    return UNKNOWN


def _field_kind(func: ast.expr) -> str | None:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return name if isinstance(name, str) and name.endswith("Field") else None


def _field_spec(kind: str, node: ast.Call) -> FieldSpec:
    keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
    null = keywords.get("null")
    nullable = isinstance(null, ast.Constant) and null.value is True
    default = keywords.get("default")
    has_default = default is not None and not (
        isinstance(default, ast.Constant) and default.value is None
    )
    constraints = keywords.get("constraints")
    if constraints is not None and "DEFAULT" in ast.unparse(constraints).upper():
        has_default = True
    return FieldSpec(kind, nullable, has_default)


# ----- SQL -------------------------------------------------------------------------------------

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_STRINGS = re.compile(r"'(?:[^']|'')*'")
_ALTER_TABLE = re.compile(
    r"^ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(\"(?:[^\"]|\"\")*\"|\S+)\s*\*?\s+(.*)$",
    re.S | re.I,
)
_NOT_COLUMN = ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE")


def _split_top(text: str, sep: str = ",") -> list[str]:
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _words(text: str) -> list[str]:
    return text.split()


def sql_contract_operations(sql: str) -> list[str]:
    """The contract operations in ``sql`` (empty when it only expands the schema)."""
    text = _STRINGS.sub("''", _COMMENTS.sub(" ", sql))
    found = []
    for statement in _split_top(text, ";"):
        norm = " ".join(statement.split())
        upper = norm.upper()
        if re.match(r"^DROP\s+TABLE\b", upper):
            found.append(f"drops a table ({norm[:80]})")
            continue
        m = _ALTER_TABLE.match(norm)
        if not m:
            continue
        table, rest = m.group(1), m.group(2)
        rest_upper = rest.upper()
        if re.match(r"^RENAME\s+TO\b", rest_upper):
            found.append(f"renames table {table}")
            continue
        if re.match(r"^RENAME\s+CONSTRAINT\b", rest_upper):
            continue
        if re.match(r"^RENAME\b", rest_upper):
            found.append(f"renames a column of {table} ({norm[:80]})")
            continue
        for action in _split_top(rest):
            words = _words(action.upper())
            if not words:
                continue
            if words[0] == "DROP" and (len(words) < 2 or words[1] != "CONSTRAINT"):
                found.append(f"drops a column of {table} ({action[:60]})")
            elif words[0] == "ADD" and (len(words) < 2 or words[1] not in _NOT_COLUMN):
                if (
                    re.search(r"\bNOT\s+NULL\b", action.upper())
                    and not re.search(r"\bDEFAULT\b", action.upper())
                    and not re.search(r"\bGENERATED\b", action.upper())
                ):
                    found.append(
                        f"adds a NOT NULL column without a default to {table} ({action[:60]})"
                    )
            elif words[0] == "ALTER" and re.search(r"\bSET\s+NOT\s+NULL\b", action.upper()):
                found.append(f"makes a column of {table} NOT NULL ({action[:60]})")
    return found


# ----- migrate() -------------------------------------------------------------------------------


def _is_contract_step(module: Module) -> bool:
    node = module.assigns.get(MARKER)
    return isinstance(node, ast.Constant) and node.value is True


class _Reader:
    def __init__(self, module: Module, migrator: str) -> None:
        self.module = module
        self.migrator = migrator
        self.evaluator = Evaluator(module)
        self.findings: list[Finding] = []

    def block(self, body: list[ast.stmt], env: dict[str, Any]) -> None:
        for stmt in body:
            self.statement(stmt, env)

    def statement(self, stmt: ast.stmt, env: dict[str, Any]) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self.call(stmt.value, env)
        elif isinstance(stmt, ast.Assign):
            v = self.evaluator.value(stmt.value, env)
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    env[target.id] = v
            if isinstance(stmt.value, ast.Call):
                self.call(stmt.value, env)
        elif isinstance(stmt, ast.For) and isinstance(stmt.target, ast.Name):
            items = self.evaluator.value(stmt.iter, env)
            for item in items if isinstance(items, list) else [UNKNOWN]:
                self.block(stmt.body, {**env, stmt.target.id: item})
            self.block(stmt.orelse, env)
        elif isinstance(stmt, (ast.If, ast.While)):
            self.block(stmt.body, env)
            self.block(stmt.orelse, env)
        elif isinstance(stmt, ast.With):
            self.block(stmt.body, env)
        elif isinstance(stmt, ast.Try):
            for part in (stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)):
                self.block(part, env)

    def _migrator_op(self, call: ast.Call) -> str | None:
        func = call.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == self.migrator
        ):
            return func.attr
        return None

    def call(self, call: ast.Call, env: dict[str, Any]) -> None:
        op = self._migrator_op(call)
        if op is None:
            return
        line = call.lineno
        args = [self.evaluator.value(a, env) for a in call.args]
        kwargs = {kw.arg: self.evaluator.value(kw.value, env) for kw in call.keywords if kw.arg}
        table = args[0] if args and isinstance(args[0], str) else "?"
        if op in DROP_OPS:
            self.add(line, f"migrator.{op} drops table {table}")
        elif op in DROP_FIELD_OPS:
            names = [a for a in args[1:] if isinstance(a, str)]
            self.add(line, f"migrator.{op} drops column(s) {', '.join(names) or '?'} of {table}")
        elif op in RENAME_FIELD_OPS:
            self.add(line, f"migrator.{op} renames a column of {table}")
        elif op in RENAME_TABLE_OPS:
            self.add(line, f"migrator.{op} renames table {table}")
        elif op in NOT_NULL_OPS:
            self.add(line, f"migrator.{op} makes a column of {table} NOT NULL")
        elif op in ADD_FIELD_OPS or op in CHANGE_FIELD_OPS:
            for column, spec in kwargs.items():
                if isinstance(spec, FieldSpec) and not spec.nullable and not spec.has_default:
                    verb = "adds" if op in ADD_FIELD_OPS else "changes"
                    self.add(
                        line,
                        f"migrator.{op} {verb} {table}.{column} as NOT NULL ({spec.kind} without "
                        "null=True) with no default",
                    )
        elif op == "sql":
            sql = args[0] if args else UNKNOWN
            if not isinstance(sql, str):
                self.add(
                    line,
                    "migrator.sql gets SQL text that cannot be read statically (use a literal, an "
                    "f-string or a module-level constant)",
                )
                return
            for problem in sql_contract_operations(sql):
                self.add(line, f"migrator.sql {problem}")

    def add(self, line: int, message: str) -> None:
        self.findings.append(Finding(line, message))


def check_migration(path: Path, root: Path) -> list[Finding]:
    """Contract operations in ``path``'s ``migrate()`` (none when it is a marked contract step)."""
    module = Module(path, root)
    if _is_contract_step(module):
        return []
    migrate = module.functions.get("migrate")
    if migrate is None:
        return [Finding(1, "no migrate() function")]
    params = [a.arg for a in migrate.args.posonlyargs + migrate.args.args]
    reader = _Reader(module, params[0] if params else "migrator")
    reader.block(migrate.body, {})
    return reader.findings


def check_migrations(root: Path) -> Iterator[tuple[str, str]]:
    directory = root / "migrations"
    for path in sorted(directory.glob("[0-9]*.py")):
        rel = str(path.relative_to(root))
        for finding in check_migration(path, root):
            yield (
                f"line {finding.line}: migrate() {finding.message}. The release before this one "
                f"still runs during the rollout; expand now and contract in a later release with "
                f"{MARKER} = True (docs/runbooks.md)",
                rel,
            )
