"""Collect every run of a results directory (or a W&B project) into parquet tables.

``python -m propensity.collect RESULTS_DIR [--out DIR] [--wandb ENTITY/PROJECT]`` scans
``RESULTS_DIR/**/record.json`` and writes ``runs.parquet``, ``trajectories.parquet``,
``histories.parquet`` and ``regimes.parquet`` to ``--out`` or RESULTS_DIR, each atomically. Unreadable records
(truncated, not JSON, a field of the wrong type) and unreadable CSVs are reported on one
line each and skipped; a run_key found in two places counts once, keeping the most
complete copy (finished > max_epochs_reached > diverged > failed > running, then the
latest ``finished_at``). A missing CSV is reported only where the run's status says it
must exist: ``trajectory.csv`` for finished/max_epochs_reached runs, ``history.csv`` for
those and any run with ``epochs_trained`` > 0. With ``--wandb`` the same tables come from
the project's runs (`collect_wandb`) and RESULTS_DIR is only where they are written.

``runs.parquet``: one row per run_key. The scalar fields of `propensity.storage.records.RunRecord`
(the one schema of a record) under their own names, in the dataclass's order:

=======================================  ==========================================
column                                   meaning
=======================================  ==========================================
run_key, experiment                      identity of the run (config hash), its grid
status                                   running, finished, max_epochs_reached,
                                         diverged or failed
error                                    the failure's message (traceback dropped)
model, data, optim, lr, init, width,     the run's configuration (section 3.1)
init_seed, data_seed, stop, batch_size
num_classes                              the data set's classes (chance = 1/classes)
total_weights                            prunable weights (Table 1)
stop_epoch, epochs_trained,              training outcome; losses and accuracies
stop_target_met, train_loss, train_acc,  of the trained, unpruned model
val_loss, val_acc, test_loss, test_acc
pruning_method, schedule, threshold,     the pruning sweep (section 3.2)
threshold_mode, base_val_acc
effective_density, ed_last_pass,         effective density and its weight count at
unpruned_weights, never_degraded         the run's own threshold
wall_time_s, started_at, finished_at     provenance
run_dir                                  absolute path of the run's directory, or
                                         ``wandb:ENTITY/PROJECT/RUN_ID``
ed_<threshold>                           ``ed_by_threshold[threshold]``, one column per
                                         threshold found in any run (e.g. ``ed_0.01``)
<field>_<method>                         ``ed_by_method[method][field]``, e.g.
                                         ``effective_density_random``,
                                         ``unpruned_weights_magnitude``
=======================================  ==========================================

Dropped: ``config``, ``versions``, ``weights_per_layer``, ``traceback``. Integer and
boolean columns are nullable (``Int64``, ``boolean``): a field not measured is null.

``trajectories.parquet``: ``run_key`` then the columns of ``trajectory.csv``
(`propensity.pruning.trajectory.Trajectory`): method, level, density, remaining_weights,
val_acc, val_loss, and test_acc, test_loss where measured; one row per (run, method, level).

``histories.parquet``: ``run_key`` then the columns of ``history.csv``: epoch, train_loss,
train_acc, val_loss, val_acc; one row per (run, epoch).

``regimes.parquet``: the retraining regimes (beyond the paper, ``docs/retraining.md``), one
row per (run, regime) of ``ed_by_regime``: run_key, regime (none, finetune, imp, imp_reinit,
imp_random), effective_density, ed_last_pass, level, unpruned_weights, never_degraded,
matching_density, base_val_acc, levels_measured, then any other scalar an entry carries.
Empty (with these columns) when no run carries regimes; results collected before it existed
load with an empty one.

``regime_levels.parquet``: ``run_key`` then the columns of each retraining branch's
``levels.csv``: branch, branch_key, level, density, remaining_weights, val_acc, val_loss,
train_acc, train_loss, test_acc, test_loss, epochs; one row per (run, branch, level), level 0
being the trained run. Empty when no run has a branch.

All join ``runs.parquet`` on ``run_key``; only the kept copy of a duplicate contributes.
"""

from propensity.collect.cli import main
from propensity.collect.from_wandb import collect_wandb
from propensity.collect.local import collect, results_path
from propensity.collect.tables import CollectedResults, load

__all__ = ["CollectedResults", "collect", "collect_wandb", "load", "main", "results_path"]
