from csp.constants import SELF
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from backtests import views as pages
from qm_platform import health


class FaviconView(RedirectView):
    """Browsers (and the admin) ask for /favicon.ico: the icon is a static file."""

    permanent = True

    def get_redirect_url(self, *args, **kwargs):
        return static("qm/favicon.svg")


admin.site.site_header = "QuantMetrics admin"
admin.site.site_title = "QuantMetrics admin"
admin.site.index_title = "Runs, strategies, batches, data and accounts"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # the split view serves Swagger UI's start-up script as a file: the CSP allows no inline script
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # ReDoc from the sidecar, without Google's fonts; it renders in a web worker started from a blob:
    path(
        "api/v1/redoc/",
        csp_update({"worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html")
        ),
        name="redoc",
    ),
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("backtests.api.urls")),
    path("api/v1/", include("batches.api.urls")),
    path("api/v1/", include("marketdata.api.urls")),
    path("run-backtest-v4", pages.run_backtest_v4, name="new-backtest"),
    path("run-backtest-v5", pages.run_backtest_v5, name="new-backtest-v5"),
    path("runs/", pages.runs_page, name="runs-page"),
    path("runs/<uuid:pk>/", pages.run_page, name="run-page"),
    path("runs/compare/", pages.compare_page, name="compare-page"),
    path("", include("batches.urls")),
    path("", include("backtests.library.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="backtests/login.html"), name="login"),
    path("accounts/", include("accounts.urls")),
    path("favicon.ico", FaviconView.as_view()),
    path("healthz", health.healthz),
    path("readyz", health.readyz),
    path("metrics", health.metrics_view),
    path("", pages.runs_page),
]

handler404 = "qm_platform.api_errors.json_404"
handler500 = "qm_platform.api_errors.json_500"
