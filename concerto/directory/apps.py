from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "concerto.directory"
    verbose_name = "Annuaire santé"
