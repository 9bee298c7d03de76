"""API v1 routes of the risks app (mounted under ``/api/v1/``)."""

from rest_framework.routers import SimpleRouter

from . import views

# SimpleRouter: the API root view belongs to the milestones router.
router = SimpleRouter(trailing_slash=True)
router.register("risks", views.RiskViewSet, basename="risk")
router.register("issues", views.IssueViewSet, basename="issue")
router.register("escalations", views.EscalationViewSet, basename="escalation")
urlpatterns = router.urls
