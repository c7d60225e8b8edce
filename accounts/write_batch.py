"""Several writes of one transaction sent as one statement: a data-modifying WITH on PostgreSQL.

The send path and settlement end with writes that depend on each other only through the ids
the database gives (the reply's call, the call's hold, the balance row they move: decision
100). On PostgreSQL they go as one statement, each write a `WITH` part and a later write
naming an earlier one's id with `(SELECT id FROM sN)`; on SQLite, whose WITH takes no INSERT
and whose statements cost no round trip, they run one after the other, the ids filled in.

Rules of a batch, PostgreSQL's for a WITH: every part sees the database as it was before the
statement, so no part may read or write a row another part writes (the parts here touch
different tables, or different rows); and a failing part fails them all, as the transaction
around them would.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


@dataclass(frozen=True)
class Ref:
    """The id of an insert earlier in the same batch."""

    name: str


@dataclass
class _Insert:
    name: str
    obj: Model
    columns: tuple[str, ...]
    values: list[object]  # parameters, or Ref


@dataclass
class _Update:
    name: str | None
    sql: str  # with {name} where an earlier insert's id goes
    params: list[object]


@dataclass
class WriteBatch:
    """Inserts of model instances and raw UPDATEs, run together by `run()`."""

    steps: list = field(default_factory=list)
    after: list[Callable[[dict], None]] = field(default_factory=list)

    def insert(self, name: str, obj: Model, **refs: Ref) -> None:
        """INSERT `obj` as `Model.save(force_insert=True)` would (no signals are sent); the
        columns named in `refs` (by attname: "call_id") take earlier inserts' ids."""
        db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` costs a lookup per use
        columns, values = [], []
        for model_field in obj._meta.local_concrete_fields:
            if model_field.primary_key and getattr(obj, model_field.attname) is None:
                continue
            columns.append(model_field.column)
            if model_field.attname in refs:
                values.append(refs[model_field.attname])
                continue
            value = model_field.pre_save(obj, add=True)
            values.append(model_field.get_db_prep_save(value, connection=db))
        self.steps.append(_Insert(name, obj, tuple(columns), values))

    def update(self, sql: str, params: list, *, name: str | None = None) -> None:
        """A raw UPDATE; with `name`, `run()` returns how many rows it matched under it. The
        SQL may name an earlier insert's id as {insert_name}."""
        self.steps.append(_Update(name, sql, list(params)))

    def update_fields(self, obj: Model, fields: list[str]) -> None:
        """UPDATE `obj`'s row with these fields' values, as `save(update_fields=...)` would
        (no signals are sent; auto_now fields are not touched unless named)."""
        meta = obj._meta
        db = connections[DEFAULT_DB_ALIAS]
        columns, params = [], []
        for name in fields:
            model_field = meta.get_field(name)
            value = model_field.pre_save(obj, add=False)
            columns.append(f"{db.ops.quote_name(model_field.column)} = %s")
            params.append(model_field.get_db_prep_save(value, connection=db))
        sql = f"UPDATE {_table(obj)} SET {', '.join(columns)} WHERE {meta.pk.column} = %s"
        self.update(sql, [*params, obj.pk])

    def then(self, callback: Callable[[dict], None]) -> None:
        """Call `callback` with what `run()` returns, once it has run (in the transaction)."""
        self.after.append(callback)

    def run(self) -> dict[str, int]:
        """Write everything; returns each insert's id and each named update's row count, and
        sets the inserted instances' primary keys and referenced ids. A batch runs once: it is
        empty afterwards."""
        if not self.steps:
            found = {}
        elif connection.vendor == "postgresql":
            found = self._as_one_statement()
        else:
            found = self._in_turn()
        for step in self.steps:
            if isinstance(step, _Insert):
                step.obj.pk = found[step.name]
                step.obj._state.adding = False
                step.obj._state.db = connection.alias
                for attname, ref in _refs_of(step):
                    setattr(step.obj, attname, found[ref.name])
        after, self.steps, self.after = self.after, [], []
        for callback in after:
            callback(found)
        return found

    def _as_one_statement(self) -> dict[str, int]:
        alias = {step.name: f"s{i}" for i, step in enumerate(self.steps) if step.name}
        parts, params, results = [], [], []
        for i, step in enumerate(self.steps):
            if isinstance(step, _Insert):
                marks = []
                for value in step.values:
                    if isinstance(value, Ref):
                        marks.append(f"(SELECT id FROM {alias[value.name]})")
                    else:
                        marks.append("%s")
                        params.append(value)
                head = _insert_head(step.obj, step.columns)
                sql = f"{head} VALUES ({', '.join(marks)}) RETURNING id"
                results.append((step.name, f"(SELECT id FROM s{i})"))
            else:
                refs = {name: f"(SELECT id FROM {a})" for name, a in alias.items()}
                sql = step.sql.format(**refs) + " RETURNING 1"
                params.extend(step.params)
                if step.name:
                    results.append((step.name, f"(SELECT count(*) FROM s{i})"))
            parts.append(f"s{i} AS ({sql})")
        select = ", ".join(expression for _, expression in results) or "1"
        with connection.cursor() as cursor:
            cursor.execute(f"WITH {', '.join(parts)} SELECT {select}", params)
            row = cursor.fetchone()
        return {name: value for (name, _), value in zip(results, row, strict=False)}

    def _in_turn(self) -> dict[str, int]:
        found: dict[str, int] = {}
        with connection.cursor() as cursor:
            for step in self.steps:
                if isinstance(step, _Insert):
                    values = [found[v.name] if isinstance(v, Ref) else v for v in step.values]
                    marks = ", ".join(["%s"] * len(values))
                    cursor.execute(
                        f"{_insert_head(step.obj, step.columns)} VALUES ({marks})", values
                    )
                    found[step.name] = cursor.lastrowid
                else:
                    # The ids are the database's own integers: safe to write into the SQL.
                    cursor.execute(step.sql.format(**found), step.params)
                    if step.name:
                        found[step.name] = cursor.rowcount
        return found


def _refs_of(step: _Insert) -> list[tuple[str, Ref]]:
    by_column = {f.column: f.attname for f in step.obj._meta.local_concrete_fields}
    return [
        (by_column[column], value)
        for column, value in zip(step.columns, step.values, strict=True)
        if isinstance(value, Ref)
    ]


def _table(obj: Model) -> str:
    return connection.ops.quote_name(obj._meta.db_table)


def _insert_head(obj: Model, columns: tuple[str, ...]) -> str:
    return _head(connection.vendor, obj._meta.db_table, columns)


@lru_cache(maxsize=256)
def _head(vendor: str, table: str, columns: tuple[str, ...]) -> str:
    """INSERT INTO "table" ("a", "b"): quoted once per shape, not per insert."""
    quote = connection.ops.quote_name
    return f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)})"
