from django.urls import path

from concerto.notifications import views

app_name = "notifications"
urlpatterns = [
    path("messagerie-demo/", views.demo_mailbox, name="demo_mailbox"),
]
