from django.urls import re_path

from accounts.api import views

# A trailing slash is optional, as on the other endpoints (no redirect on POST).
urlpatterns = [
    re_path(r"^auth/token/?$", views.TokenObtainView.as_view(), name="auth-token"),
    re_path(r"^auth/token/refresh/?$", views.TokenRefreshView.as_view(), name="auth-token-refresh"),
    re_path(r"^auth/logout/?$", views.LogoutView.as_view(), name="auth-logout"),
    re_path(r"^me/?$", views.MeView.as_view(), name="me"),
    re_path(r"^me/export/?$", views.ExportView.as_view(), name="me-export"),
    re_path(r"^me/api-keys/?$", views.ApiKeyListView.as_view(), name="api-key-list"),
    re_path(r"^me/api-keys/(?P<pk>[0-9]{1,18})/?$", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
