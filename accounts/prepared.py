"""Querysets compiled once per process and run again with other ids: the send path's reads.

A send and a settlement each read a few rows by id (the conversation, the balance row, the
history, the reply, the hold). Building and compiling those querysets cost more CPU than
running them (docs/performance.md, decision 100). `Prepared` compiles a queryset the first
time, with marker ids in place of the caller's, keeps its SQL, and afterwards runs that SQL
with the caller's ids, building the instances as Django's ModelIterable does (converters,
select_related, annotations).

Only for querysets whose SQL does not depend on the values: integer ids compared with `=`
(no `IN` lists, no None). A select_for_update must run inside a transaction, as Django checks
only when it compiles.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators

# Ids no row has, each unlikely to equal a constant of the query: where they land in the
# compiled parameters is where the caller's ids go.
_MARKER_BASE = -(10**15)


@dataclass
class _Compiled:
    sql: str
    params: list
    slots: list[tuple[int, int]]  # (position in params, index of the caller's id)
    compiler: object
    model: type[Model]
    start: int
    end: int
    init_list: list[str]
    populators: list
    annotations: dict
    converters: dict  # the columns' converters, found once (Django finds them per query)


class Prepared:
    """`Prepared(lambda a, b: Model.objects.filter(x=a, y=b))`: called with ids, returns the
    list the queryset would."""

    def __init__(self, build: Callable[..., QuerySet]) -> None:
        self.build = build
        self.compiled: dict[str, _Compiled] = {}

    def __call__(self, *ids: int, using: str = "default") -> list:
        compiled = self.compiled.get(using)
        if compiled is None:
            compiled = self.compiled[using] = self._compile(len(ids), using)
        params = list(compiled.params)
        for position, index in compiled.slots:
            params[position] = int(ids[index])
        with connections[using].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        return [
            self._instance(compiled, row, using) for row in compiled.compiler.results_iter([rows])
        ]

    def _compile(self, count: int, using: str) -> _Compiled:
        markers = [_MARKER_BASE - i for i in range(count)]
        queryset = self.build(*markers)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        slots = [
            (position, markers.index(value))
            for position, value in enumerate(params)
            if isinstance(value, int) and value in markers
        ]
        if sorted({index for _, index in slots}) != list(range(count)):
            raise ValueError(f"{queryset.model.__name__}: an id is not a plain parameter")
        klass_info = compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return _Compiled(
            sql=sql,
            params=list(params),
            slots=slots,
            compiler=compiler,
            model=klass_info["model"],
            start=start,
            end=end,
            init_list=[column[0].target.attname for column in compiler.select[start:end]],
            populators=get_related_populators(klass_info, compiler.select, using),
            annotations=dict(compiler.annotation_col_map or {}),
            converters=compiler.get_converters(
                [column[0] for column in compiler.select[: compiler.col_count]]
            ),
        )

    @staticmethod
    def _instance(compiled: _Compiled, row, using: str) -> Model:
        obj = compiled.model.from_db(using, compiled.init_list, row[compiled.start : compiled.end])
        for populator in compiled.populators:
            populator.populate(row, obj)
        for name, position in compiled.annotations.items():
            setattr(obj, name, row[position])
        return obj
