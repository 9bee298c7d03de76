"""The milestones admins (``milestones/admin.py``), import and export included.

Only Dependency rows can be deleted in the admin (``dependency_remove``); the
other milestones admins never delete (no service does, and progress updates are
immutable), so the matrix's delete check, which expects the model permission to
open the delete page, does not apply to them: they are declared without
``build`` and ``tests/milestones/test_admin.py`` checks their scoping per role
(in scope visible, out of scope 404, delete 403 for everyone).
"""

from milestones import services

from ..factories import make_milestone
from . import AdminModel

NO_DELETE = (
    "Never deleted in the admin; its scoping per role is checked in "
    "tests/milestones/test_admin.py."
)


def build_dependency(ctx, unit):
    predecessor = make_milestone(ctx.portfolio, unit)
    successor = make_milestone(ctx.portfolio, unit)
    return services.dependency_add(
        actor=None, predecessor=predecessor, successor=successor
    )


ROUTES = {
    "admin:milestones_dependency_*": AdminModel(build=build_dependency),
    "admin:milestones_portfolio_*": AdminModel(note=NO_DELETE),
    "admin:milestones_milestone_*": AdminModel(
        note=NO_DELETE + " Import and export: tests/milestones/test_import.py."
    ),
    "admin:milestones_milestonecategory_*": AdminModel(note=NO_DELETE),
    "admin:milestones_strategicobjective_*": AdminModel(note=NO_DELETE),
    "admin:milestones_checkpoint_*": AdminModel(note=NO_DELETE),
    "admin:milestones_progressupdate_*": AdminModel(note=NO_DELETE),
    "admin:milestones_resourceallocation_*": AdminModel(note=NO_DELETE),
    "admin:milestones_kpi_*": AdminModel(note=NO_DELETE),
    "admin:milestones_kpimeasurement_*": AdminModel(note=NO_DELETE),
}
