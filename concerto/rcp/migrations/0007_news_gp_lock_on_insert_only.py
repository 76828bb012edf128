"""A news line takes its patient's GP under a share lock only when it is inserted or
moved to another patient (rcp 0004 took it on every update of a line).

That lock serves the insert (see 0004). On an update of a line already committed it only
opened a deadlock: the update locks the line, then waits for the patient's row, while a
change of that patient's GP holds the row and waits for the line (its trigger updates
the patient's lines). Without the lock the update reads the GP committed last, and the
change's trigger, which waits for the line's lock, then writes the new GP over it.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION concerto_news_gp_rpps() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.patient_id IS DISTINCT FROM OLD.patient_id THEN
        NEW.gp_rpps := (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id
                        FOR SHARE);
    ELSE
        NEW.gp_rpps := (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
PREVIOUS = """
CREATE OR REPLACE FUNCTION concerto_news_gp_rpps() RETURNS trigger AS $$
BEGIN
    NEW.gp_rpps := (SELECT gp_rpps FROM patients_patient WHERE id = NEW.patient_id FOR SHARE);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS, params=None)


class Migration(migrations.Migration):
    dependencies = [("rcp", "0006_french_labels")]
    operations = [migrations.RunPython(forward, backward)]
