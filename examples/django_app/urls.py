"""URLs of the Django example."""

from __future__ import annotations

from django.urls import path

from examples.django_app import views

urlpatterns = [
    path("", views.home),
    path("signup", views.signup),
    path("thanks", views.thanks),
]
