"""API v1 routes of the scheduling app (mounted under ``/api/v1/``)."""

from rest_framework.routers import SimpleRouter

from . import api

# SimpleRouter: the API root view belongs to the milestones router.
router = SimpleRouter(trailing_slash=True)
router.register("portfolios", api.PortfolioScheduleViewSet, basename="portfolio")
urlpatterns = router.urls
