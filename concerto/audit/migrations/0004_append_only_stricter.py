"""The audit trail's append-only rule, tightened (PostgreSQL):

- a DELETE, even inside the purge, is refused for an event younger than six months (184
  days, the longest six calendar months): a wrong cutoff cannot erase the recent trail;
- TRUNCATE, which row triggers do not see, is refused, unless the session set
  ``concerto.audit_truncate`` (the test databases do, for their flush between tests).

The application's database role should still not own the table (README): a trigger
protects against mistakes, privileges against intent.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION concerto_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('concerto.audit_purge', true) = 'on'
            AND OLD.at < now() - interval '184 days' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION concerto_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('concerto.audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only (TRUNCATE refused)'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION concerto_audit_no_truncate();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS audit_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS concerto_audit_no_truncate();
CREATE OR REPLACE FUNCTION concerto_audit_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('concerto.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_auditevent is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_action_index")]
    operations = [migrations.RunPython(forward, backward)]
