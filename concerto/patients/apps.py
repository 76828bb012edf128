from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "concerto.patients"
    verbose_name = "Patients"
