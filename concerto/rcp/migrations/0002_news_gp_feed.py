"""The GP's news feed read from one index: ``NewsItem.gp_rpps`` is the patient's declared
GP, kept by the database itself whatever writes the rows (actions, admin, raw SQL):

- a news line takes its patient's ``gp_rpps`` when it is inserted (or moved to another
  patient), any value written by the application being overridden;
- when a patient's ``gp_rpps`` changes, their news lines follow in the same statement.

So at any snapshot a line's ``gp_rpps`` is its patient's: the feed filtered on it is the
policy's "patients whose declared GP the user is now", without a join.
"""

from django.db import migrations, models

POSTGRESQL_FORWARD = """
CREATE FUNCTION concerto_news_gp_rpps() RETURNS trigger AS $$
BEGIN
    NEW.gp_rpps := (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER news_gp_rpps
    BEFORE INSERT OR UPDATE ON rcp_newsitem
    FOR EACH ROW EXECUTE FUNCTION concerto_news_gp_rpps();
CREATE FUNCTION concerto_patient_gp_to_news() RETURNS trigger AS $$
BEGIN
    UPDATE rcp_newsitem SET gp_rpps = NEW.gp_rpps WHERE patient_id = NEW.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER patient_gp_to_news
    AFTER UPDATE OF gp_rpps ON patients_patient
    FOR EACH ROW WHEN (OLD.gp_rpps IS DISTINCT FROM NEW.gp_rpps)
    EXECUTE FUNCTION concerto_patient_gp_to_news();
"""
POSTGRESQL_BACKWARD = """
DROP TRIGGER IF EXISTS patient_gp_to_news ON patients_patient;
DROP FUNCTION IF EXISTS concerto_patient_gp_to_news();
DROP TRIGGER IF EXISTS news_gp_rpps ON rcp_newsitem;
DROP FUNCTION IF EXISTS concerto_news_gp_rpps();
"""
# SQLite cannot assign NEW in a BEFORE trigger: the row is corrected just after. Its
# triggers are not recursive (recursive_triggers is off), so the correction does not
# fire the UPDATE trigger again.
SQLITE_FORWARD = [
    """
CREATE TRIGGER news_gp_rpps_insert AFTER INSERT ON rcp_newsitem BEGIN
    UPDATE rcp_newsitem
    SET gp_rpps = (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id)
    WHERE id = NEW.id;
END
""",
    """
CREATE TRIGGER news_gp_rpps_update AFTER UPDATE ON rcp_newsitem BEGIN
    UPDATE rcp_newsitem
    SET gp_rpps = (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id)
    WHERE id = NEW.id;
END
""",
    """
CREATE TRIGGER patient_gp_to_news AFTER UPDATE OF gp_rpps ON patients_patient
WHEN OLD.gp_rpps IS NOT NEW.gp_rpps BEGIN
    UPDATE rcp_newsitem SET gp_rpps = NEW.gp_rpps WHERE patient_id = NEW.id;
END
""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS patient_gp_to_news",
    "DROP TRIGGER IF EXISTS news_gp_rpps_update",
    "DROP TRIGGER IF EXISTS news_gp_rpps_insert",
]
BACKFILL = """
UPDATE rcp_newsitem SET gp_rpps = (
    SELECT gp_rpps FROM patients_patient WHERE patients_patient.id = rcp_newsitem.patient_id
)
"""


# (forward statements, backward statements) by database vendor.
TRIGGERS = {
    "postgresql": ([POSTGRESQL_FORWARD], [POSTGRESQL_BACKWARD]),
    "sqlite": (SQLITE_FORWARD, SQLITE_BACKWARD),
}


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in TRIGGERS:  # pragma: no cover — Concerto runs on PostgreSQL and SQLite
        raise RuntimeError(f"no news feed triggers for {vendor}")
    for statement in TRIGGERS[vendor][0]:
        schema_editor.execute(statement, params=None)
    schema_editor.execute(BACKFILL, params=None)


def backward(apps, schema_editor):
    for statement in TRIGGERS.get(schema_editor.connection.vendor, ([], []))[1]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("rcp", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="newsitem",
            name="gp_rpps",
            field=models.CharField(editable=False, max_length=11, null=True),
        ),
        migrations.RunPython(forward, backward),
        migrations.AddIndex(
            model_name="newsitem",
            index=models.Index(
                fields=["gp_rpps", "-date", "-created_at", "-id"], name="news_gp_feed"
            ),
        ),
    ]
