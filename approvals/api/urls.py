"""API v1 routes of the approvals app (mounted under ``/api/v1/``)."""

from rest_framework.routers import SimpleRouter

from . import views

# SimpleRouter: the API root view belongs to the milestones router.
router = SimpleRouter(trailing_slash=True)
router.register("approvals", views.ApprovalRequestViewSet, basename="approval")
urlpatterns = router.urls
