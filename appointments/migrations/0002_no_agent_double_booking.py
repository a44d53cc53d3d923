"""No agent can have two confirmed appointments that overlap: an exclusion constraint.

PostgreSQL only (btree_gist). On SQLite, used in development, the services' own check
stands alone; with one writer at a time there, it is enough.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE appointments_appointmentagent
    ADD CONSTRAINT no_agent_double_booking
    EXCLUDE USING gist (agent_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&)
    WHERE (active);
"""
DROP = "ALTER TABLE appointments_appointmentagent DROP CONSTRAINT IF EXISTS no_agent_double_booking;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("appointments", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
