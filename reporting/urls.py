from django.urls import path
from django.views.generic import RedirectView

app_name = "reporting"
urlpatterns = [
    # Until the dashboard lands, the home page is the back office.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
]
