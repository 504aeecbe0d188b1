# The tables and indexes taken over in 0001 get the batches_ prefix (a rename: no row is
# copied). It runs after backtests 0008, so that migrating backtests back to 0007 first
# renames them back to the names backtests' state expects.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('batches', '0001_initial'),
        ('backtests', '0008_batches_move_to_own_app'),
    ]

    operations = [
        migrations.RenameIndex(
            model_name='batch',
            new_name='batches_bat_owner_i_f4fc1c_idx',
            old_name='backtests_b_owner_i_fc9cf0_idx',
        ),
        migrations.RenameIndex(
            model_name='batch',
            new_name='batches_bat_schedul_8ca845_idx',
            old_name='backtests_b_schedul_8b6ff0_idx',
        ),
        migrations.AlterModelTable(name='batch', table=None),
        migrations.AlterModelTable(name='batchlimit', table=None),
        migrations.AlterModelTable(name='schedule', table=None),
    ]
