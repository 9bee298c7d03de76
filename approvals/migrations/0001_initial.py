
import django.core.validators
import django.db.models.deletion
import portal.validators
import simple_history.models
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


MOVED = (
    "approvalrequest",
    "approvaldecision",
    "historicalapprovalrequest",
    "historicalapprovaldecision",
)


def _relabel(apps, schema_editor, old: str, new: str) -> None:
    """Give the moved models' content types their new app label. A content
    type already under the new label (created by an earlier post-migrate) is
    kept only if the old one does not exist."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for model in MOVED:
        old_type = ContentType.objects.using(db).filter(app_label=old, model=model)
        if not old_type.exists():
            continue
        ContentType.objects.using(db).filter(app_label=new, model=model).delete()
        old_type.update(app_label=new)


def relabel_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "milestones", "approvals")


def unrelabel_content_types(apps, schema_editor):
    _relabel(apps, schema_editor, "approvals", "milestones")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('milestones', '0009_approvals_move_out'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    # The models move here from milestones with their tables (the names are
    # kept by db_table / table_name): the state learns them, the database is
    # left alone; content types (and so permissions and object grants) are
    # relabelled to this app.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
        migrations.CreateModel(
            name='ApprovalRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('reauthorization', 'Budget/timeline reauthorization'), ('baseline_change', 'Baseline change'), ('completion_validation', 'Completion validation')], max_length=24)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('withdrawn', 'Withdrawn')], default='pending', max_length=10)),
                ('requested_at', models.DateTimeField()),
                ('reason', models.TextField(help_text='Why the change is needed.')),
                ('new_approved_budget', models.DecimalField(blank=True, decimal_places=2, max_digits=16, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                ('new_planned_start', models.DateField(blank=True, null=True, validators=[portal.validators.plausible_date])),
                ('new_planned_completion', models.DateField(blank=True, null=True, validators=[portal.validators.plausible_date])),
                ('new_success_criteria', models.TextField(blank=True)),
                ('new_weight', models.DecimalField(blank=True, decimal_places=2, max_digits=6, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.01'))])),
                ('new_requires_validation', models.BooleanField(blank=True, help_text='The completion gate: whether completion needs validation.', null=True)),
                ('old_approved_budget', models.DecimalField(blank=True, decimal_places=2, max_digits=16, null=True)),
                ('old_planned_start', models.DateField(blank=True, null=True)),
                ('old_planned_completion', models.DateField(blank=True, null=True)),
                ('old_success_criteria', models.TextField(blank=True)),
                ('old_weight', models.DecimalField(blank=True, decimal_places=2, max_digits=6, null=True)),
                ('old_requires_validation', models.BooleanField(blank=True, null=True)),
                ('escalation_id', models.PositiveBigIntegerField(blank=True, help_text='The risks.Escalation that raised this request, if any.', null=True)),
                ('escalation_summary', models.CharField(blank=True, max_length=400)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('milestone', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='approval_requests', to='milestones.milestone')),
                ('requested_by', models.ForeignKey(blank=True, help_text='Empty when the system raised it (an escalation).', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='approval_requests', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'db_table': 'milestones_approvalrequest',
                'ordering': ['-requested_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='ApprovalDecision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('outcome', models.CharField(choices=[('approve', 'Approve'), ('reject', 'Reject')], max_length=7)),
                ('comment', models.TextField(blank=True)),
                ('decided_at', models.DateTimeField()),
                ('authority_limit', models.DecimalField(blank=True, decimal_places=2, help_text="The approver's authority limit when deciding (empty: none).", max_digits=16, null=True)),
                ('within_limit', models.BooleanField(default=True, help_text='Whether the amount was within that limit.')),
                ('snapshot', models.JSONField(blank=True, default=dict)),
                ('approver', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='approval_decisions', to=settings.AUTH_USER_MODEL)),
                ('request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='decisions', to='approvals.approvalrequest')),
            ],
            options={
                'db_table': 'milestones_approvaldecision',
                'ordering': ['decided_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalApprovalDecision',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('outcome', models.CharField(choices=[('approve', 'Approve'), ('reject', 'Reject')], max_length=7)),
                ('comment', models.TextField(blank=True)),
                ('decided_at', models.DateTimeField()),
                ('authority_limit', models.DecimalField(blank=True, decimal_places=2, help_text="The approver's authority limit when deciding (empty: none).", max_digits=16, null=True)),
                ('within_limit', models.BooleanField(default=True, help_text='Whether the amount was within that limit.')),
                ('snapshot', models.JSONField(blank=True, default=dict)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('approver', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('request', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='approvals.approvalrequest')),
            ],
            options={
                'verbose_name': 'historical approval decision',
                'verbose_name_plural': 'historical approval decisions',
                'db_table': 'milestones_historicalapprovaldecision',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalApprovalRequest',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('kind', models.CharField(choices=[('reauthorization', 'Budget/timeline reauthorization'), ('baseline_change', 'Baseline change'), ('completion_validation', 'Completion validation')], max_length=24)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('withdrawn', 'Withdrawn')], default='pending', max_length=10)),
                ('requested_at', models.DateTimeField()),
                ('reason', models.TextField(help_text='Why the change is needed.')),
                ('new_approved_budget', models.DecimalField(blank=True, decimal_places=2, max_digits=16, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0'))])),
                ('new_planned_start', models.DateField(blank=True, null=True, validators=[portal.validators.plausible_date])),
                ('new_planned_completion', models.DateField(blank=True, null=True, validators=[portal.validators.plausible_date])),
                ('new_success_criteria', models.TextField(blank=True)),
                ('new_weight', models.DecimalField(blank=True, decimal_places=2, max_digits=6, null=True, validators=[django.core.validators.MinValueValidator(Decimal('0.01'))])),
                ('new_requires_validation', models.BooleanField(blank=True, help_text='The completion gate: whether completion needs validation.', null=True)),
                ('old_approved_budget', models.DecimalField(blank=True, decimal_places=2, max_digits=16, null=True)),
                ('old_planned_start', models.DateField(blank=True, null=True)),
                ('old_planned_completion', models.DateField(blank=True, null=True)),
                ('old_success_criteria', models.TextField(blank=True)),
                ('old_weight', models.DecimalField(blank=True, decimal_places=2, max_digits=6, null=True)),
                ('old_requires_validation', models.BooleanField(blank=True, null=True)),
                ('escalation_id', models.PositiveBigIntegerField(blank=True, help_text='The risks.Escalation that raised this request, if any.', null=True)),
                ('escalation_summary', models.CharField(blank=True, max_length=400)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('milestone', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='milestones.milestone')),
                ('requested_by', models.ForeignKey(blank=True, db_constraint=False, help_text='Empty when the system raised it (an escalation).', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical approval request',
                'verbose_name_plural': 'historical approval requests',
                'db_table': 'milestones_historicalapprovalrequest',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AddIndex(
            model_name='approvalrequest',
            index=models.Index(fields=['status', '-requested_at'], name='milestones__status_f4f404_idx'),
        ),
        migrations.AddConstraint(
            model_name='approvalrequest',
            constraint=models.UniqueConstraint(condition=models.Q(('escalation_id__isnull', False)), fields=('escalation_id',), name='approval_one_request_per_escalation', violation_error_message='This escalation already has a request.'),
        ),
        migrations.AddConstraint(
            model_name='approvalrequest',
            constraint=models.UniqueConstraint(condition=models.Q(('kind', 'completion_validation'), ('status', 'pending')), fields=('milestone',), name='approval_one_pending_completion', violation_error_message="This milestone's completion already awaits validation."),
        ),
        migrations.AddConstraint(
            model_name='approvalrequest',
            constraint=models.CheckConstraint(condition=models.Q(('new_approved_budget__isnull', True), ('new_approved_budget__gte', 0), _connector='OR'), name='approval_new_budget_non_negative', violation_error_message='A budget cannot be negative.'),
        ),
        migrations.AddConstraint(
            model_name='approvalrequest',
            constraint=models.CheckConstraint(condition=models.Q(('new_weight__isnull', True), ('new_weight__gt', 0), _connector='OR'), name='approval_new_weight_positive', violation_error_message='The weight must be positive.'),
        ),
        migrations.AddConstraint(
            model_name='approvaldecision',
            constraint=models.UniqueConstraint(fields=('request', 'approver'), name='approval_one_decision_per_approver', violation_error_message='You already decided this request.'),
        ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(relabel_content_types, unrelabel_content_types),
    ]
