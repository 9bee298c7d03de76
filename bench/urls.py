"""Benchmark URLs: the portal's own plus the plain baseline beside it."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from portal.urls import urlpatterns as portal_urlpatterns

from .baseline import PlainMilestoneViewSet, plain_site

router = SimpleRouter()
router.register("milestones", PlainMilestoneViewSet, basename="plain-milestone")

urlpatterns = [
    path("plain-admin/", plain_site.urls),
    path("plain-api/", include(router.urls)),
    *portal_urlpatterns,
]
