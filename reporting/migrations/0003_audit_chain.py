"""Start the audit chain and make history append-only (issue 7).

1. Chain the history rows written before the chain existed (a no-op on a new
   database), so ``verify_audit_chain`` covers them too.
2. Index every history table on (id, history_date, history_id): one object's
   records in order, as the audit trail reads them.
3. On PostgreSQL only, add the triggers that make every history table and the
   audit tables refuse UPDATE and DELETE (see ``portal.audit``). History
   tables created by later migrations get the trigger from the
   ``post_migrate`` receiver, which runs the same function after every
   ``migrate`` (and adds the index of step 2 to new tables). On SQLite this
   step does nothing.

It lives in ``reporting`` (which depends on every domain app) so that the
history tables of accounts, milestones, risks and reporting exist when it runs.
"""

from django.db import migrations


def chain_existing_history(apps, schema_editor):
    from portal.audit import chain_backlog

    chain_backlog(apps, using=schema_editor.connection.alias)


def add_history_indexes(apps, schema_editor):
    from portal.audit import install_history_indexes

    install_history_indexes(schema_editor.connection, apps)


def add_append_only_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from portal.audit import install_append_only_triggers

    install_append_only_triggers(schema_editor.connection)


def drop_append_only_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from portal.audit import drop_append_only_triggers as drop

    drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0002_audit_trail"),
        ("accounts", "0002_initial"),
        ("milestones", "0001_initial"),
        ("risks", "0002_default_rules_and_daily_sweep"),
        ("reporting", "0002_weekly_report_schedule"),
    ]

    operations = [
        migrations.RunPython(chain_existing_history, migrations.RunPython.noop),
        migrations.RunPython(add_history_indexes, migrations.RunPython.noop),
        migrations.RunPython(add_append_only_triggers, drop_append_only_triggers),
    ]
