from django.contrib import admin
from django.urls import include, path

from concerto import views

admin.site.site_header = "Concerto — administration"
admin.site.site_title = "Concerto"
admin.site.index_title = "Dossier Communicant de Cancérologie"

urlpatterns = [
    path("", views.home, name="home"),
    path("sante/", views.health, name="health"),
    path("admin/", admin.site.urls),
    path("", include("concerto.accounts.urls")),
    path("portail/", include("concerto.portal.urls")),
    path("rcp/", include("concerto.rcp.urls")),
    path("notifications/", include("concerto.notifications.urls")),
    path("annuaire/", include("concerto.directory.urls")),
    path("journal/", include("concerto.audit.urls")),
]
