"""The expand/contract guardrail: each contract operation in migrate() is refused (migrator calls
and SQL text), rollback() and marked contract steps are exempt, and the real migrations pass."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from policies import guardrails
from policies.migrationcheck import check_migrations, sql_contract_operations

ROOT = Path(__file__).resolve().parents[2]

HEADER = """\
import peewee as pw
from peewee_migrate import Migrator

"""


def write(root: Path, body: str, *, name: str = "006_change.py", extra: str = "") -> Path:
    (root / "migrations").mkdir(parents=True, exist_ok=True)
    text = HEADER + extra + "\n\ndef migrate(migrator: Migrator, database, *, fake=False):\n"
    text += textwrap.indent(textwrap.dedent(body), "    ")
    text += "\n\ndef rollback(migrator: Migrator, database, *, fake=False):\n    pass\n"
    path = root / "migrations" / name
    path.write_text(text)
    return path


def found(root: Path) -> list[str]:
    return [m for m, _ in check_migrations(root)]


def test_real_migrations_pass():
    assert list((ROOT / "migrations").glob("00[1-5]_*.py"))
    assert list(check_migrations(ROOT)) == []


def test_guardrail_is_registered_and_names_file_and_line(tmp_path):
    write(tmp_path, 'migrator.remove_fields("users", "nickname")\n')
    guard = next(g for g in guardrails.GUARDRAILS if g.name == "migrations-expand-contract")
    results = list(guard.check(tmp_path))
    assert len(results) == 1
    message, where = results[0]
    assert where == "migrations/006_change.py"
    assert message.startswith("line 7: migrate() migrator.remove_fields drops column(s) nickname")
    assert "CONTRACT_STEP = True" in message and "docs/runbooks.md" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('migrator.remove_model("users")', "drops table users"),
        ('migrator.drop_table("users")', "drops table users"),
        ('migrator.remove_fields("users", "a", "b")', "drops column(s) a, b of users"),
        ('migrator.drop_columns("users", "a")', "drops column(s) a of users"),
        ('migrator.rename_field("users", "a", "b")', "renames a column of users"),
        ('migrator.rename_column("users", "a", "b")', "renames a column of users"),
        ('migrator.rename_table("users", "people")', "renames table users"),
        ('migrator.add_not_null("users", "email")', "makes a column of users NOT NULL"),
        (
            'migrator.add_fields("users", nickname=pw.CharField(max_length=40))',
            "adds users.nickname as NOT NULL",
        ),
        (
            'migrator.add_fields("users", team=pw.ForeignKeyField(model=migrator.orm["teams"]))',
            "adds users.team as NOT NULL",
        ),
        (
            'migrator.add_fields("users", nickname=pw.CharField(null=False, default=None))',
            "adds users.nickname as NOT NULL",
        ),
        (
            'migrator.change_fields("users", nickname=pw.CharField(max_length=80))',
            "changes users.nickname as NOT NULL",
        ),
    ],
)
def test_contract_operations_are_refused(tmp_path, body, expected):
    write(tmp_path, body + "\n")
    messages = found(tmp_path)
    assert len(messages) == 1 and expected in messages[0], messages


@pytest.mark.parametrize(
    "body",
    [
        'migrator.add_fields("users", nickname=pw.CharField(null=True))',
        'migrator.add_fields("users", score=pw.IntegerField(default=0))',
        'migrator.add_fields("users", tz=pw.CharField(constraints=[pw.SQL("DEFAULT \'UTC\'")]))',
        'migrator.add_index("users", "email")',
        'migrator.drop_not_null("users", "nickname")',
        'migrator.sql("CREATE INDEX users_nickname ON users (nickname)")',
        'migrator.sql("ALTER TABLE users ADD COLUMN score int NOT NULL DEFAULT 0")',
        'migrator.sql("ALTER TABLE users ADD COLUMN nickname text")',
        'migrator.sql("ALTER TABLE users ADD CONSTRAINT users_score CHECK (score >= 0)")',
        'migrator.sql("ALTER TABLE users DROP CONSTRAINT users_score")',
        'migrator.sql("ALTER TABLE users ALTER COLUMN nickname DROP NOT NULL")',
        "migrator.sql(\"COMMENT ON TABLE users IS 'DROP TABLE users'\")",
        'migrator.sql("-- DROP TABLE users\\nCREATE INDEX a ON users (id)")',
    ],
)
def test_expand_operations_pass(tmp_path, body):
    write(tmp_path, body + "\n")
    assert found(tmp_path) == []


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ALTER TABLE x DROP COLUMN y", "drops a column of x"),
        ("ALTER TABLE x DROP y", "drops a column of x"),
        ("alter table only x drop column if exists y", "drops a column of x"),
        ("ALTER TABLE x ADD COLUMN a int, DROP COLUMN y", "drops a column of x"),
        ("DROP TABLE x", "drops a table"),
        ("CREATE INDEX i ON x (a); DROP TABLE IF EXISTS x", "drops a table"),
        ("ALTER TABLE x RENAME TO y", "renames table x"),
        ("ALTER TABLE x RENAME COLUMN a TO b", "renames a column of x"),
        ("ALTER TABLE x RENAME a TO b", "renames a column of x"),
        ("ALTER TABLE x ADD COLUMN y int NOT NULL", "adds a NOT NULL column without a default"),
        ("ALTER TABLE x ADD y text NOT NULL", "adds a NOT NULL column without a default"),
        ("ALTER TABLE x ALTER COLUMN y SET NOT NULL", "makes a column of x NOT NULL"),
    ],
)
def test_sql_text_contract_operations(tmp_path, sql, expected):
    assert any(expected in p for p in sql_contract_operations(sql)), sql
    write(tmp_path, f"migrator.sql({sql!r})\n")
    messages = found(tmp_path)
    assert len(messages) == 1 and f"migrator.sql {expected}" in messages[0]


def test_sql_read_through_constants_loops_fstrings_and_functions(tmp_path):
    extra = textwrap.dedent(
        """
        TABLE = "users"
        REVIEWED_SQL = [
            "CREATE INDEX users_a ON users (a)",
            f"ALTER TABLE {TABLE} DROP COLUMN legacy",
        ]


        def statements(column):
            return ["SELECT 1", "ALTER TABLE users RENAME " + column + " TO b"]
        """
    )
    body = """\
    for statement in REVIEWED_SQL:
        migrator.sql(statement)
    for statement in statements("a"):
        migrator.sql(statement)
    role = database.role_name()
    migrator.sql(f'ALTER TABLE users ALTER COLUMN {role} SET NOT NULL')
    """
    write(tmp_path, body, extra=extra)
    messages = found(tmp_path)
    assert any("drops a column of users" in m for m in messages)
    assert any("renames a column of users" in m for m in messages)
    assert any("makes a column of users NOT NULL" in m for m in messages)
    assert len(messages) == 3


def test_sql_from_an_imported_project_module(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "sqlhelpers.py").write_text(
        'def drop(table, column):\n    return f"ALTER TABLE {table} DROP COLUMN {column}"\n'
    )
    write(tmp_path, 'migrator.sql(sqlhelpers.drop("users", "legacy"))\n',
          extra="from app import sqlhelpers\n")  # fmt: skip
    assert len(found(tmp_path)) == 1


def test_unreadable_sql_is_refused(tmp_path):
    write(tmp_path, "migrator.sql(open('change.sql').read())\n")
    messages = found(tmp_path)
    assert len(messages) == 1 and "cannot be read statically" in messages[0]


def test_rollback_is_exempt(tmp_path):
    path = write(tmp_path, 'migrator.add_index("users", "email")\n')
    path.write_text(path.read_text().replace("    pass\n", '    migrator.remove_model("users")\n'))
    assert found(tmp_path) == []


def test_marked_contract_step_is_allowed(tmp_path):
    body = 'migrator.remove_fields("users", "legacy")\nmigrator.sql("DROP TABLE old_things")\n'
    write(tmp_path, body, extra="CONTRACT_STEP = True\n")
    assert found(tmp_path) == []
    write(tmp_path, body, extra="CONTRACT_STEP = False\n")
    assert len(found(tmp_path)) == 2
