"""The API keys page: list, create (the key shown once) and revoke, for people who prefer a
page to curl. The same services as the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.api.serializers import ApiKeyCreateSerializer
from qm_platform.errors import CodedError


@login_required
@require_http_methods(["GET", "POST"])
def api_keys_page(request):
    """GET: the user's keys. POST (name, optional expires_at): a new key, shown on this answer only."""
    context: dict = {"created_key": None, "error": None}
    status = 200
    if request.method == "POST":
        form = ApiKeyCreateSerializer(data={k: v for k, v in request.POST.items() if v and k != "csrfmiddlewaretoken"})
        try:
            if not form.is_valid():
                field, problems = next(iter(form.errors.items()))
                raise CodedError("INVALID_REQUEST", f"{field}: {problems[0]}", {"field": field})
            api_key, key = services.api_key_create(user=request.user, **form.validated_data, request=request)
            context["created_key"] = {"key": key, "prefix": api_key.prefix, "name": api_key.name}
            status = 201
        except CodedError as exc:
            context["error"] = exc
            status = exc.status_code
    context["api_keys"] = selectors.api_key_list_for_user(user=request.user)
    response = render(request, "accounts/api_keys.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may hold a key
    return response


@login_required
@require_POST
def api_key_revoke_page(request, pk: int):
    api_key = selectors.api_key_get_for_user(user=request.user, api_key_id=pk)
    if api_key is None:
        raise Http404("No such API key")
    services.api_key_revoke(api_key=api_key, by=request.user, request=request)
    return HttpResponseRedirect(reverse("api-keys-page"), status=303)
