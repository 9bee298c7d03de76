
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('milestones', '0008_gate_label'),
    ]

    # The approval models moved to the approvals app (approvals.0001): only
    # the migration state forgets them here; their tables stay as they are.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.RemoveField(
            model_name='approvalrequest',
            name='milestone',
        ),
        migrations.RemoveField(
            model_name='approvalrequest',
            name='requested_by',
        ),
        migrations.RemoveField(
            model_name='historicalapprovaldecision',
            name='request',
        ),
        migrations.RemoveField(
            model_name='historicalapprovaldecision',
            name='approver',
        ),
        migrations.RemoveField(
            model_name='historicalapprovaldecision',
            name='history_user',
        ),
        migrations.RemoveField(
            model_name='historicalapprovalrequest',
            name='history_user',
        ),
        migrations.RemoveField(
            model_name='historicalapprovalrequest',
            name='milestone',
        ),
        migrations.RemoveField(
            model_name='historicalapprovalrequest',
            name='requested_by',
        ),
        migrations.DeleteModel(
            name='ApprovalDecision',
        ),
        migrations.DeleteModel(
            name='ApprovalRequest',
        ),
        migrations.DeleteModel(
            name='HistoricalApprovalDecision',
        ),
        migrations.DeleteModel(
            name='HistoricalApprovalRequest',
        ),
            ],
            database_operations=[],
        ),
    ]
