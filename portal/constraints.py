"""Check constraints validated in Python when they are simple enough.

``Model.full_clean`` validates each ``CheckConstraint`` with a database query
whose every field value is an annotation: about 2 ms of query building per
constraint and row, which dominates a 10,000-row import. Most conditions here
are comparisons of a field with a literal or another field, combined with
AND, OR and NOT; :class:`PythonChecked` evaluates those directly, with SQL's
three-valued logic (a comparison with NULL is unknown, and an unknown
condition passes, as in the database and in Django's own check). Anything
else (functions, joins, unsupported lookups) falls back to Django's query.
The database still enforces every constraint.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Self

from django.core.exceptions import ValidationError
from django.db.models import (
    CheckConstraint,
    F,
    ForeignObject,
    Model,
    Q,
    UniqueConstraint,
)
from django.db.models.constraints import BaseConstraint

if TYPE_CHECKING:
    _Mixin = Model  # PythonChecked is mixed into models
else:
    _Mixin = object

COMPARISONS = {
    "exact": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class Unsupported(Exception):
    """The condition needs the database."""


def _f_name(expression: F) -> str:
    name: str = expression.name  # type: ignore[attr-defined]  # missing in the stubs
    return name


def _pair(child: object) -> tuple[str, Any]:
    """A ``Q`` child that is a ``(lookup, value)`` pair; Unsupported for an
    expression."""
    if not isinstance(child, tuple):
        raise Unsupported(child)
    return child[0], child[1]


def _operand(instance: Model, value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, F):
        name = _f_name(value)
        if name not in names:
            raise Unsupported(name)
        return getattr(instance, names[name])
    if hasattr(value, "resolve_expression"):
        raise Unsupported(value)
    return value


def _lookup(
    instance: Model, key: str, value: Any, names: dict[str, str]
) -> bool | None:
    field, _, lookup = key.partition("__")
    lookup = lookup or "exact"
    if field not in names or "__" in lookup:
        raise Unsupported(key)
    left = getattr(instance, names[field])
    if lookup == "isnull":
        return (left is None) == bool(value)
    if lookup not in COMPARISONS:
        raise Unsupported(key)
    right = _operand(instance, value, names)
    if left is None or right is None:
        return None  # unknown, as in SQL
    try:
        return COMPARISONS[lookup](left, right)
    except TypeError as exc:  # a value of the wrong type: let SQL decide
        raise Unsupported(key) from exc


def evaluate(condition: Q, instance: Model, names: dict[str, str]) -> bool | None:
    """``condition`` on ``instance`` in three-valued logic (None = unknown)."""
    results: list[bool | None] = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(evaluate(child, instance, names))
        else:
            results.append(_lookup(instance, *_pair(child), names))
    value: bool | None
    if condition.connector == Q.AND:
        value = False if False in results else (None if None in results else True)
    elif condition.connector == Q.OR:
        value = True if True in results else (None if None in results else False)
    else:
        raise Unsupported(condition.connector)
    if condition.negated:
        value = None if value is None else not value
    return value


@functools.cache
def _foreign_key_attnames(model) -> tuple[str, ...]:
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if field.is_relation and field.many_to_one
    )


class PythonChecked(_Mixin):
    """Model mixin: validate simple check constraints without a query (the
    rest as Django does, with the same error layout), and trust a foreign key
    whose related object was just read from the database, or whose value is
    the one the row was read with (Django would query again to see that it
    exists; the database's constraint still guards the write)."""

    _loaded_keys: dict[str, Any]  # the foreign keys as read (from_db)

    @classmethod
    def from_db(
        cls,
        db: str | None,
        field_names: Collection[str],
        values: Collection[Any],
        **kwargs: Any,  # Django 6.1's fetch_mode
    ) -> Self:
        instance = super().from_db(db, field_names, values, **kwargs)
        # The foreign keys as read: unchanged ones need no existence check.
        loaded = instance.__dict__  # deferred fields are absent: not read here
        instance._loaded_keys = {
            attname: loaded[attname]
            for attname in _foreign_key_attnames(cls)
            if attname in loaded
        }
        return instance

    def clean_fields(self, exclude: Collection[str] | None = None) -> None:
        exclude = set(exclude or ())
        loaded = getattr(self, "_loaded_keys", {})
        for field in self._meta.concrete_fields:
            if not (isinstance(field, ForeignObject) and field.many_to_one):
                continue
            value = getattr(self, field.attname)
            if (
                field.attname in loaded
                and value is not None
                and value == loaded[field.attname]
                and not field.get_limit_choices_to()
            ):
                exclude.add(field.name)
                continue
            if field.is_cached(self):
                related = field.get_cached_value(self)
                if (
                    related is not None
                    and not related._state.adding
                    and getattr(related, field.target_field.attname) is not None
                    and getattr(self, field.attname)
                    == getattr(related, field.target_field.attname)
                    and not field.get_limit_choices_to()
                ):
                    exclude.add(field.name)
        return super().clean_fields(exclude=exclude)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        from django.db import router

        exclude = set(exclude or ())
        using = router.db_for_write(self.__class__, instance=self)
        names: dict[str, str] = {}
        for field in self._meta.concrete_fields:
            names[field.name] = names[field.attname] = field.attname
        errors: dict[str, Any] = {}
        for model_class, constraints in self.get_constraints():
            for constraint in constraints:
                try:
                    if not _checked_in_python(constraint, self, names, exclude):
                        constraint.validate(
                            model_class, self, exclude=exclude, using=using
                        )
                except ValidationError as exc:
                    if (
                        getattr(exc, "code", None) == "unique"
                        and isinstance(constraint, UniqueConstraint)
                        and len(constraint.fields) == 1
                    ):
                        errors.setdefault(constraint.fields[0], []).append(exc)
                    else:
                        errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


def _checked_in_python(
    constraint: BaseConstraint,
    instance: Model,
    names: dict[str, str],
    exclude: set[str],
) -> bool:
    """Validate ``constraint`` here if it is a simple check (raising on a
    violation); False when the database must do it."""
    if not isinstance(constraint, CheckConstraint):
        return False
    try:
        condition = constraint.condition
        if not isinstance(condition, Q):
            raise Unsupported(condition)
        if _fields(condition) & exclude:
            return True  # Django skips a check on an excluded field too
        passed = evaluate(condition, instance, names)
    except Unsupported:
        return False
    if passed is False:
        raise ValidationError(
            constraint.get_violation_error_message(),
            code=constraint.violation_error_code,
        )
    return True


def _fields(condition: Q) -> set[str]:
    names: set[str] = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _fields(child)
        else:
            key, value = _pair(child)
            names.add(key.partition("__")[0])
            if isinstance(value, F):
                names.add(_f_name(value))
    return names
