"""A news line takes its patient's GP under a share lock on the patient's row.

Without it, a line inserted while another transaction changes that patient's GP could
keep the former GP for good: the insert read the committed (old) value, and the change's
trigger updated only the lines it could see. ``FOR SHARE`` conflicts with the change's
row lock, so one of the two waits for the other: the insert then reads the new GP, or
the change's trigger sees the committed line. (SQLite serialises writers: no race.)
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION concerto_news_gp_rpps() RETURNS trigger AS $$
BEGIN
    NEW.gp_rpps := (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id{lock});
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION.format(lock=" FOR SHARE"), params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION.format(lock=""), params=None)


class Migration(migrations.Migration):
    dependencies = [("rcp", "0003_territory_calendar_choices")]
    operations = [migrations.RunPython(forward, backward)]
