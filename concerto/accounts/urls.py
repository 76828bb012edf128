from django.conf import settings
from django.urls import path

from concerto.accounts import views

urlpatterns = [
    path("connexion/", views.login_page, name="login"),
    path("connexion/psc/", views.psc_start, name="psc_login"),
    path("connexion/psc/retour/", views.psc_callback, name="psc_callback"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("connexion/prolonger/", views.keep_alive, name="keep_alive"),
]

# The demo login exists only in demo mode: in production this URL is never registered
# (and the system check concerto.E001 fails if the flag is set).
if settings.DEMO_LOGIN and not settings.PRODUCTION:
    urlpatterns.append(path("connexion/demo/", views.demo_login, name="demo_login"))
