"""Two indexes that only cost writes (every claim and every "sent" writes each one).

- The registration foreign key's own index: the unique (registration, GP) index starts
  with the registration and serves the same look-ups.
- The Message-ID's pattern-matching (``varchar_pattern_ops``) index that PostgreSQL gets
  with ``unique=True`` on a text column: no query uses ``LIKE`` on it. Uniqueness is now a
  named constraint: on PostgreSQL the existing one is renamed (no rebuild, no long lock);
  on SQLite the column keeps its inline UNIQUE until the table is next rebuilt, from the
  state below."""

import django.db.models.deletion
from django.db import migrations, models

FK_INDEX = "notifications_notification_registration_id_1949e398"
LIKE_INDEX = "notifications_notification_message_id_32639e63_like"
OLD_UNIQUE = "notifications_notification_message_id_key"
NEW_UNIQUE = "notification_message_id_unique"
TABLE = "notifications_notification"


def forwards(apps, schema_editor):  # noqa: ANN001, ANN201
    schema_editor.execute(f'DROP INDEX IF EXISTS "{FK_INDEX}"')
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE_INDEX}"')
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" RENAME CONSTRAINT "{OLD_UNIQUE}" TO "{NEW_UNIQUE}"'
        )


def backwards(apps, schema_editor):  # noqa: ANN001, ANN201
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{FK_INDEX}" ON "{TABLE}" ("registration_id")')
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'ALTER TABLE "{TABLE}" RENAME CONSTRAINT "{NEW_UNIQUE}" TO "{OLD_UNIQUE}"'
        )
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{LIKE_INDEX}" ON "{TABLE}" '
            '("message_id" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_outbox"),
        ("rcp", "0002_news_gp_feed"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="notification",
                    name="message_id",
                    field=models.CharField(max_length=200, verbose_name="Message-ID"),
                ),
                migrations.AlterField(
                    model_name="notification",
                    name="registration",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="notifications",
                        to="rcp.registration",
                        verbose_name="inscription",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="notification",
                    constraint=models.UniqueConstraint(
                        fields=("message_id",), name="notification_message_id_unique"
                    ),
                ),
            ],
        ),
    ]
