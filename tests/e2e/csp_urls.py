"""URLs for the CSP browser test: the portal's, plus one page into which an
attacker's markup was rendered unescaped (as a template bug would), so the
test can show that the policy, not only the escaping, stops the script."""

from django.http import HttpResponse
from django.urls import include, path

INJECTED = (
    "<!DOCTYPE html><html><head><title>Injected</title></head><body>"
    "<h1>Injected page</h1>"
    # What a broken template would let through from a stored field:
    "<script>window.__injected = true; alert('xss');</script>"
    '<img src="x.png" onerror="window.__handler = true">'
    "<p id='done'>end</p></body></html>"
)


def injected(request):
    return HttpResponse(INJECTED)


urlpatterns = [
    path("e2e/injected/", injected),
    path("", include("portal.urls")),
]
