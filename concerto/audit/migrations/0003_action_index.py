"""The action index without its pattern-matching twin.

``db_index=True`` on a text column gives PostgreSQL two indexes: a b-tree and a
``varchar_pattern_ops`` one for ``LIKE 'x%'``, which no query uses but every audit event
writes. The b-tree is kept and renamed (no rebuild, no long lock on a large trail); the
pattern index is dropped. SQLite has no pattern index: its index is rebuilt under the new
name (an embedded database is small)."""

from django.db import migrations, models

OLD = "audit_auditevent_action_2131bb77"
NEW = "audit_action"


def forwards(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD}_like"')
        schema_editor.execute(f'ALTER INDEX IF EXISTS "{OLD}" RENAME TO "{NEW}"')
    else:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD}"')
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{NEW}" ON "audit_auditevent" ("action")')


def backwards(apps, schema_editor):  # noqa: ANN001, ANN201
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER INDEX IF EXISTS "{NEW}" RENAME TO "{OLD}"')
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{OLD}_like" ON "audit_auditevent" '
            '("action" varchar_pattern_ops)'
        )
    else:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{NEW}"')
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{OLD}" ON "audit_auditevent" ("action")')


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="action",
                    field=models.CharField(max_length=80, verbose_name="action"),
                ),
                migrations.AddIndex(
                    model_name="auditevent",
                    index=models.Index(fields=["action"], name="audit_action"),
                ),
            ],
        ),
    ]
