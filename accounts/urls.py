from django.urls import path

from accounts import views

urlpatterns = [
    path("api-keys/", views.api_keys_page, name="api-keys-page"),
    path("api-keys/<int:pk>/revoke", views.api_key_revoke_page, name="api-key-revoke-page"),
]
