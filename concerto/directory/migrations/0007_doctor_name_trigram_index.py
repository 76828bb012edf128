"""The médecins' names, searched by the registration form (``lookup.search_doctors``):
on PostgreSQL a trigram index answers ``UPPER(last_name || ' ' || first_name) LIKE
'%WORD%'`` without reading every name (1.3 M professionals nationally).

``pg_trgm`` ships with PostgreSQL (contrib) and is a trusted extension: the database's
owner may create it. Nothing on SQLite (the embedded demo: a small directory). The
directory import rebuilds this index like the others after a first import.
"""

from django.db import migrations

INDEX = "professional_doctor_name_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON directory_professional "
        "USING gin ((UPPER(last_name || ' ' || first_name)) gin_trgm_ops) "
        "WHERE profession_code = '10'"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("directory", "0006_directory_source_shape")]

    operations = [migrations.RunPython(create, drop)]
