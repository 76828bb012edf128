"""The GP's portal, under /portail/. Paths carry opaque ids only, never patient data."""

from django.urls import path

from concerto.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("inscription/<int:pk>/", views.prefiche, name="prefiche"),
    path("inscription/<int:pk>/contribution/", views.contribute, name="contribute"),
    path("inscription/<int:pk>/compte-rendu/", views.compte_rendu, name="compte_rendu"),
    path("pps/<int:pk>/", views.pps, name="pps"),
]
