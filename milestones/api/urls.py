"""API v1 routes of the milestones app (mounted under ``/api/v1/``)."""

from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter(trailing_slash=True)
router.register("portfolios", views.PortfolioViewSet, basename="portfolio")
router.register("objectives", views.ObjectiveViewSet, basename="objective")
router.register("milestones", views.MilestoneViewSet, basename="milestone")
router.register("dependencies", views.DependencyViewSet, basename="dependency")
router.register("updates", views.ProgressUpdateViewSet, basename="update")
router.register("kpis", views.KPIViewSet, basename="kpi")
urlpatterns = router.urls
