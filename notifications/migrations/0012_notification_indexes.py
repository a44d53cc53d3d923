"""Only the indexes a query uses on notifications_notification (issue 12, housekeeping).

Every status change of a record writes a new entry in each index of the table (status is
indexed, so the update is never HOT): 11 indexes before, 7 after. Dropped:

- status and its varchar_pattern_ops copy (status_..._like): no query reads a settled status
  through an index; the in-flight ones go through the partial notification_status_age_idx;
- provider_message_id's varchar_pattern_ops copy: no query makes LIKE 'prefix%' on it (the
  admin search is ILIKE '%x%', which no btree serves); the plain index stays, renamed;
- recipient_agent_id: deleting an agent finds their records through the partial unique index
  notification_once_per_agent; nothing else looks records up by agent.

The database side is written out rather than left to AlterField: Django would drop and
re-add the recipient_agent foreign key (re-checking every row under a lock) and rebuild the
provider_message_id index under its new name, where a DROP INDEX and a rename are enough.
"""

from django.db import migrations, models

import django.db.models.deletion

TABLE = "notifications_notification"
# Django's names for the indexes of db_index=True (deterministic: table, column, hash).
STATUS = "notifications_notification_status_fc366839"
PROVIDER_ID = "notifications_notification_provider_message_id_602d31c1"
AGENT = "notifications_notification_recipient_agent_id_309581f2"
NEW_PROVIDER_ID = "notification_provider_id_idx"


def drop_unused(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for name in (STATUS, f"{STATUS}_like", f"{PROVIDER_ID}_like", AGENT):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    if postgres:
        schema_editor.execute(f'ALTER INDEX "{PROVIDER_ID}" RENAME TO "{NEW_PROVIDER_ID}"')
    else:  # SQLite (development): no ALTER INDEX
        schema_editor.execute(f'DROP INDEX IF EXISTS "{PROVIDER_ID}"')
        schema_editor.execute(f'CREATE INDEX "{NEW_PROVIDER_ID}" ON "{TABLE}" ("provider_message_id")')


def restore(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute(f'ALTER INDEX "{NEW_PROVIDER_ID}" RENAME TO "{PROVIDER_ID}"')
    else:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{NEW_PROVIDER_ID}"')
        schema_editor.execute(f'CREATE INDEX "{PROVIDER_ID}" ON "{TABLE}" ("provider_message_id")')
    schema_editor.execute(f'CREATE INDEX "{STATUS}" ON "{TABLE}" ("status")')
    schema_editor.execute(f'CREATE INDEX "{AGENT}" ON "{TABLE}" ("recipient_agent_id")')
    if postgres:
        schema_editor.execute(f'CREATE INDEX "{STATUS}_like" ON "{TABLE}" ("status" varchar_pattern_ops)')
        schema_editor.execute(f'CREATE INDEX "{PROVIDER_ID}_like" ON "{TABLE}" ("provider_message_id" varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [
        ('appointments', '0008_remove_reminder_due_at'),
        ('notifications', '0011_delivery_liveness'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='notification',
                    name='provider_message_id',
                    field=models.CharField(blank=True, max_length=255, verbose_name='identifiant chez le prestataire'),
                ),
                migrations.AlterField(
                    model_name='notification',
                    name='recipient_agent',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='appointments.agent', verbose_name='agent destinataire'),
                ),
                migrations.AlterField(
                    model_name='notification',
                    name='status',
                    field=models.CharField(choices=[('pending', 'à envoyer'), ('sending', 'envoi en cours'), ('sent', 'envoyé'), ('delivered', 'délivré'), ('undelivered', 'non délivré'), ('soft_bounced', 'refusé temporairement (nouvel essai en cours)'), ('bounced', 'rejeté par le destinataire'), ('failed', 'échec'), ('cancelled', 'annulé (plus à envoyer)'), ('uncertain', 'à vérifier'), ('limited', 'non envoyé (plafond atteint)')], default='pending', max_length=16, verbose_name='statut'),
                ),
                migrations.AddIndex(
                    model_name='notification',
                    index=models.Index(fields=['provider_message_id'], name='notification_provider_id_idx'),
                ),
            ],
            database_operations=[migrations.RunPython(drop_unused, restore)],
        ),
    ]
