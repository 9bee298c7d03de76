"""Database functions that Django lacks and that must work on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from django.db.models import DecimalField, Func, IntegerField, Subquery


class DaysBetween(Func):
    """Whole days from ``start`` to ``end`` (``end - start``) for two dates."""

    output_field = IntegerField()
    arity = 2

    def __init__(self, end: Any, start: Any, **extra: Any) -> None:
        super().__init__(end, start, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        # PostgreSQL: date - date is an integer number of days.
        return super().as_sql(
            compiler, connection, template="(%(expressions)s)", arg_joiner=" - "
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="CAST(ROUND(julianday(%(expressions)s)) AS INTEGER)",
            arg_joiner=") - julianday(",
            **extra_context,
        )


class Ratio(Func):
    """``numerator / denominator * scale`` as a decimal; NULL when the denominator
    is 0 or NULL.

    Integer operands never truncate: the numerator is cast to NUMERIC on
    PostgreSQL (exact decimal division) and to REAL on SQLite, whose NUMERIC
    keeps whole values as integers and would divide them as integers. Use it
    for every division in an annotation or aggregate (percentages, weighted
    averages, rates) so both backends give the same figures.
    """

    output_field = DecimalField()
    arity = 2

    def __init__(self, numerator, denominator, *, scale: int = 1, **extra):
        super().__init__(numerator, denominator, **extra)
        self.scale = int(scale)

    def _ratio_sql(self, compiler, connection, cast_type: str, **extra_context):
        # "(CAST(num AS type) * scale / NULLIF(den, 0))"
        return super().as_sql(
            compiler,
            connection,
            template="(CAST(%(expressions)s, 0))",
            arg_joiner=f" AS {cast_type}) * {self.scale} / NULLIF(",
            **extra_context,
        )

    def as_sql(self, compiler, connection, **extra_context):
        return self._ratio_sql(compiler, connection, "NUMERIC", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self._ratio_sql(compiler, connection, "REAL", **extra_context)


def newest_history_id(model, **filters) -> Subquery:
    """The newest history id of ``model``'s rows matching ``filters`` (which
    may use ``OuterRef``), as a subquery; None when there is none.

    Every write to a tracked model adds a history row and history ids only
    grow, so this names the state of those rows: memo keys are built from it.
    With an index on (filter column, history id) it is one index probe.
    """
    return Subquery(
        model.history.model.objects.filter(**filters)
        .order_by("-history_id")
        .values("history_id")[:1]
    )
