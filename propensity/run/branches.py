"""Retraining branches of trained runs: fine-tuning, and IMP with its controls (docs/retraining.md).

The paper prunes the trained model without retraining (section 3.2). A branch asks the same
trained model what happens when the subnetwork may retrain; it never trains the dense model
again. Its levels are fitted by the engines (`propensity.engines`) with a mask per fitted
model, measured with the functions the trained run is measured with, and written level by
level to the branch's folder, ``<run_dir>/branches/<regime>-<hash>/`` (the hash of
`propensity.retrain.identity.branch_key`):

- ``levels.csv``: one row per branch (``imp``, ``imp_reinit``, ``imp_random``, ``finetune``)
  and level: density, remaining weights, retrained validation and training accuracy and
  loss, test columns with ``pruning.eval_test``, and the epochs trained. Level 0 is the
  trained run itself, copied from its record and trajectory.
- ``imp.pt``: IMP's progress, the masks of every level and the retrained state of the last
  one (the next level's masks are drawn from it), saved after each level.
- ``level_<k>/``: the engines' checkpoints and histories while level k trains, so a killed
  branch resumes mid-level; removed once the level's rows are written.

IMP runs its levels in lockstep over the members of a chunk: every level's IMP and control
fits of all members form one engine call (the stacked engine for more than one fit), so a
cohort retrains as one stacked model with a mask per fitted model. Fine-tuning searches each
member's crossing on its own (`propensity.retrain.crossing.find_crossing` is sequential), one
Lightning fit at a time. Each regime's ED and matching density go to ``record.json``'s
``ed_by_regime`` beside ``none``'s, the one-shot trajectory's.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from propensity.config.settings import RunSettings
from propensity.data.base import TensorDataModule
from propensity.engines.epoch_report import EpochReport
from propensity.engines.fitting import Chunk, Engine, FitMember
from propensity.engines.lightning import LightningEngine
from propensity.engines.limits import BatchLimits, batch_limits
from propensity.engines.loggers import close_loggers, make_loggers
from propensity.engines.stacked import StackedEngine
from propensity.engines.stopping import StopRule, TrainForEpochs
from propensity.launch.signals import interruptible
from propensity.measurements import measure_test
from propensity.mechanisms.artifacts import ArtifactSettings
from propensity.pruning.effective_density import drops
from propensity.pruning.masks import plan as pruning_plan
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.trajectory import Trajectory
from propensity.retrain import (
    FinetuneSettings,
    IMPSettings,
    LevelResult,
    branch_key,
    branch_name,
    dense_masks,
    ed_by_regime,
    find_crossing,
    imp_last_level,
    imp_level_starts,
    imp_masks,
    initial_state,
    regime_trajectory,
    remaining,
)
from propensity.retrain.rewind import State, copy_state, load_rewind_state, masked_state
from propensity.run.members import TRAINED, BranchError, build_model, data_module
from propensity.run.plan import MemoryPlan
from propensity.storage.atomic import write_atomic, write_text_atomic
from propensity.storage.lock import RunBusyError, RunLock
from propensity.storage.records import RunRecord

log = logging.getLogger("propensity")

BRANCHES = "branches"
LEVELS = "levels.csv"
IMP_PROGRESS = "imp.pt"
COLUMNS = ("branch", "branch_key", "level", "density", "remaining_weights", "val_acc", "val_loss",
           "train_acc", "train_loss", "test_acc", "test_loss", "epochs")


@dataclass
class TrainedRun:
    """A trained run a branch starts from: its settings and record, its model with the trained
    weights (those its trajectory pruned), its data and its open loggers."""

    run: RunSettings
    record: RunRecord
    model: nn.Module
    data: TensorDataModule
    loggers: list[Any]


def branch_dir(run: RunSettings) -> Path:
    """``<run_dir>/branches/<regime>-<hash>``: the folder of the run's branch."""
    key = branch_key(run.run_key, run.retrain)
    return run.run_dir / BRANCHES / key.removeprefix(f"{run.run_key}.")


def save_trained(run: RunSettings, model: nn.Module) -> None:
    """The trained weights, kept so a branch added later never trains the dense model again."""
    state = copy_state(model)
    write_atomic(run.run_dir / TRAINED, lambda tmp: torch.save(state, tmp))


def load_trained(run: RunSettings, model: nn.Module) -> nn.Module:
    """`model` with the run's trained weights (`save_trained`), or a one-line `BranchError`."""
    path = run.run_dir / TRAINED
    if not path.is_file():
        raise BranchError(
            f"retrain={run.retrain.regime}: run {run.run_key} finished without keeping its trained "
            f"weights ({path} is missing); train it again with resume=false to add the branch")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def members_per_chunk(members: Sequence[RunSettings], chunk_sizes: Any) -> int:
    """How many members' branches retrain at once: a level stacks every fit of its members
    (IMP and its controls), so the memory budget's largest chunk of models (`chunk_sizes`, the
    memory plan's) is divided by the fits a member brings."""
    if not members:
        return 1
    settings = members[0].retrain
    fits = 1 + len(settings.controls) if isinstance(settings, IMPSettings) else 1
    return max(1, max(chunk_sizes(list(members) * fits), default=1) // fits)


def run_branches(trained: Sequence[TrainedRun], batches: BatchLimits, eval_batch: int) -> None:
    """Run each trained run's branch (IMP in lockstep over `trained`, fine-tuning one by one),
    then write its ``ed_by_regime`` to the record."""
    imp = [t for t in trained if isinstance(t.run.retrain, IMPSettings)]
    if imp:
        _run_imp(imp, batches, eval_batch)
    for t in trained:
        if isinstance(t.run.retrain, FinetuneSettings):
            _run_finetune(t, batches, eval_batch)
    for t in trained:
        _record_regimes(t)


# -- rows ------------------------------------------------------------------------------------

def read_rows(folder: Path) -> pd.DataFrame:
    """The branch's ``levels.csv`` (empty with its columns when none is written yet)."""
    path = folder / LEVELS
    return pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=list(COLUMNS))


def _write_rows(folder: Path, rows: pd.DataFrame) -> None:
    rows = rows.drop_duplicates(["branch_key", "level"], keep="last").sort_values(["branch", "level"])
    write_text_atomic(folder / LEVELS, rows.to_csv(index=False))


def _append(folder: Path, new: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = pd.concat([read_rows(folder), pd.DataFrame(list(new), columns=list(COLUMNS))], ignore_index=True)
    _write_rows(folder, rows)
    return read_rows(folder)


def _has(rows: pd.DataFrame, key: str, level: int) -> bool:
    return bool(((rows["branch_key"] == key) & (rows["level"] == level)).any())


def _level_zero(t: TrainedRun, branches: Sequence[tuple[str, str]], eval_batch: int) -> list[dict[str, Any]]:
    """Level 0 of each of the run's `branches` (name, key): the trained run, measured once. Its
    validation (and test) metrics are its trajectory's level 0; its training metrics are
    measured as every level's are, in eval mode over the whole training split (the record's
    are the last epoch's running mean)."""
    if not branches:
        return []
    none = _none_trajectory(t)
    [measured] = _measure([t.data], [t.model], eval_batch, torch.device("cpu"), test=False)
    return [{"branch": name, "branch_key": key, "level": 0, "density": 1.0,
            "remaining_weights": t.record.total_weights, "val_acc": none.val_acc[0],
            "val_loss": none.val_loss[0], "train_acc": measured["train_acc"],
            "train_loss": measured["train_loss"], "test_acc": none.test_acc[0] if none.test_acc else None,
            "test_loss": none.test_loss[0] if none.test_loss else None, "epochs": t.record.epochs_trained}
            for name, key in branches]


def _none_trajectory(t: TrainedRun) -> Trajectory:
    """The run's own one-shot trajectory (``none``): its pruning method's rows."""
    frame = pd.read_csv(t.run.run_dir / "trajectory.csv")
    return Trajectory.from_frame(frame[frame["method"] == t.run.pruning.method].reset_index(drop=True))


# -- fitting one level -----------------------------------------------------------------------

@dataclass(frozen=True)
class LevelFit:
    """One model to retrain at a level: the trained run, the branch, its masks and start."""

    trained: TrainedRun
    branch: str
    key: str
    masks: Mapping[str, torch.Tensor]
    state: State


def retraining_batch_seed(batch_seed: int, seed: int, level: int) -> int:
    """The batch order of a level's retraining: from the run's batch seed, the branch's `seed`
    and the level, so levels do not replay one order and the branches of a level share it."""
    digest = hashlib.sha256(f"retrain/{int(batch_seed)}/{int(seed)}/{int(level)}".encode()).hexdigest()
    return int(digest[:8], 16)


def _fit_level(fits: Sequence[LevelFit], level: int, folder_of: Any, *, max_epochs: int,
               rules: Sequence[StopRule], batches: BatchLimits, eval_batch: int, seed: int
               ) -> tuple[list[dict[str, Any]], list[State]]:
    """Retrain `fits` (one engine call: Lightning for one, the stack for more) and measure
    each: one row and the retrained state per fit."""
    members, runs = [], []
    for fit, rule in zip(fits, rules, strict=True):
        run = fit.trained.run
        where = folder_of(fit.trained) / f"level_{level}" / fit.branch
        order = retraining_batch_seed(run.batch_seed, seed, level)
        level_run = dataclasses.replace(
            run, run_key=f"{fit.key}.level{level}", run_dir=where, experiment_dir=where.parent,
            artifacts=ArtifactSettings(), batch_seed=order, resume=not run.debug)
        where.mkdir(parents=True, exist_ok=True)
        data = copy.copy(fit.trained.data)
        data.batch_seed = order
        model = copy.deepcopy(fit.trained.model).cpu()
        model.load_state_dict(fit.state)
        members.append(FitMember(run=level_run, model=model, data=data, rule=rule, loggers=[],
                                 mask={k: v.to(torch.bool) for k, v in fit.masks.items()}))
        runs.append(level_run)
    first = runs[0]
    label = f"{fits[0].trained.run.run_key} {fits[0].key.split('.')[-1].split('-')[0]} level {level}"
    report = EpochReport([r.run_dir for r in runs], [[] for _ in runs], max_epochs, first.progress,
                         label=label if len(fits) == 1 else f"{label}, {len(fits)} fits")
    chunk = Chunk(optimizer=first.build.optimizer(), max_epochs=max_epochs, report=report,
                  limits=batches, val_batch=eval_batch)
    engine: Engine = LightningEngine() if len(members) == 1 else StackedEngine()
    results = engine.fit(members, chunk)
    models = [m.model.to(engine.device) for m in members]
    rows = []
    measured = _measure([m.data for m in members], models, eval_batch, engine.device,
                        test=first.pruning.eval_test)
    for fit, member, result, metrics in zip(fits, members, results, measured, strict=True):
        kept = remaining(member.mask or {})
        total = fit.trained.record.total_weights or 1
        rows.append({"branch": fit.branch, "branch_key": fit.key, "level": level,
                     "density": kept / total, "remaining_weights": kept, **metrics,
                     "epochs": result.epochs_trained})
        if result.status == "diverged":  # measured as it ended: degraded, as a diverged model is
            log.warning("%s level %d diverged while retraining: %s", fit.key, level, result.error)
    return rows, [copy_state(model) for model in models]


def _measure(data: Sequence[TensorDataModule], models: Sequence[nn.Module], batch: int,
             device: torch.device, *, test: bool) -> list[dict[str, float | None]]:
    """Validation and training loss and accuracy (and test's) of the retrained `models`, with
    the evaluation the trained run is measured with (`measure_test`)."""
    def on(x: torch.Tensor) -> torch.Tensor:
        return x.to(device)

    val = measure_test(models, [(on(d.x_val), on(d.y_val)) for d in data], batch)
    train = measure_test(models, [(on(d.x_train), on(d.y_train)) for d in data], batch)
    tested = measure_test(models, [(on(d.x_test), on(d.y_test)) for d in data], batch) if test \
        else [(None, None)] * len(models)
    return [{"val_loss": v[0], "val_acc": v[1], "train_loss": t[0], "train_acc": t[1],
             "test_loss": s[0], "test_acc": s[1]} for v, t, s in zip(val, train, tested, strict=True)]


def _clear_level(folder: Path, level: int) -> None:
    shutil.rmtree(folder / f"level_{level}", ignore_errors=True)


# -- IMP -------------------------------------------------------------------------------------

@dataclass
class IMPProgress:
    """One run's IMP so far: the masks of each level done and the retrained state of the last."""

    level: int
    masks: dict[int, dict[str, torch.Tensor]]
    state: State

    def save(self, folder: Path) -> None:
        payload = {"level": self.level, "masks": self.masks, "state": self.state}
        write_atomic(folder / IMP_PROGRESS, lambda tmp: torch.save(payload, tmp))

    @classmethod
    def load_or_start(cls, t: TrainedRun, folder: Path) -> IMPProgress:
        path = folder / IMP_PROGRESS
        if path.is_file():
            saved = torch.load(path, map_location="cpu", weights_only=True)
            return cls(int(saved["level"]), {int(k): v for k, v in saved["masks"].items()}, saved["state"])
        return cls(0, {0: dense_masks(t.model)}, copy_state(t.model))


def _rewind_state(t: TrainedRun, settings: IMPSettings) -> State:
    """The dense run's weights at ``rewind_iteration``: replayed from the init seed at 0, else
    the copy the dense run saved while it trained (`propensity.retrain.rewind.load_rewind_state`)."""
    if settings.rewind_iteration == 0:
        return initial_state(t.model, t.run.init, t.run.init_seed)  # type: ignore[arg-type]
    state = load_rewind_state(t.run.run_dir, settings.rewind_iteration)
    if state is None:
        raise BranchError(
            f"retrain.rewind_iteration={settings.rewind_iteration}: run {t.run.run_key} kept no weights "
            "at that iteration (they are saved while the dense run trains with this setting, and a run "
            "that stops before it has none); train it again with resume=false, or use a smaller "
            "retrain.rewind_iteration")
    return state


def _crossed(rows: pd.DataFrame, key: str, base: float, t: TrainedRun) -> bool:
    mine = rows[rows["branch_key"] == key]
    return any(drops(base, float(acc), t.run.pruning.threshold, t.run.pruning.threshold_mode)  # type: ignore[arg-type]
               for acc in mine["val_acc"] if acc == acc)


def _run_imp(trained: Sequence[TrainedRun], batches: BatchLimits, eval_batch: int) -> None:
    """IMP levels in lockstep over `trained` (all with one `IMPSettings`)."""
    settings = trained[0].run.retrain
    assert isinstance(settings, IMPSettings)
    last = imp_last_level(settings.rate, settings.min_density)
    names = [(branch_name(settings), None)] + [(branch_name(settings, c), c) for c in settings.controls]
    folders = {id(t): branch_dir(t.run) for t in trained}
    progress, rewind_states, rows = {}, {}, {}
    for t in trained:
        folder = folders[id(t)]
        folder.mkdir(parents=True, exist_ok=True)
        progress[id(t)] = IMPProgress.load_or_start(t, folder)
        rewind_states[id(t)] = _rewind_state(t, settings)
        table = read_rows(folder)
        keys = [(name, branch_key(t.run.run_key, settings, control)) for name, control in names]
        new = _level_zero(t, [(name, key) for name, key in keys if not _has(table, key, 0)], eval_batch)
        rows[id(t)] = _append(folder, new) if new else table
        _log_levels(t, new)
    for level in range(1, last + 1):
        fits = []
        for t in trained:
            prog, table = progress[id(t)], rows[id(t)]
            imp_key = branch_key(t.run.run_key, settings)
            base = float(table[(table["branch_key"] == imp_key) & (table["level"] == 0)]["val_acc"].iloc[0])
            if settings.stop_after_crossing and _crossed(table[table["level"] < level], imp_key, base, t):
                continue
            if level not in prog.masks:
                weights = {name: prog.state[name] for name in prog.masks[level - 1]}
                prog.masks[level] = imp_masks(weights, prog.masks[level - 1], level, settings.rate,
                                              settings.allocation)
            starts = imp_level_starts(t.model, prog.masks[level], rewind_states[id(t)], settings,
                                      scheme=t.run.init, init_seed=t.run.init_seed)  # type: ignore[arg-type]
            for start, (_, control) in zip(starts, names, strict=True):
                key = branch_key(t.run.run_key, settings, control)
                if not _has(table, key, level):
                    fits.append(LevelFit(t, start.branch, key, start.masks, start.state))
        if not fits:
            continue
        bound = settings.max_epochs or fits[0].trained.run.max_epochs
        rules = [f.trained.run.build.stop_rule() for f in fits]
        new_rows, states = _fit_level(fits, level, lambda t: folders[id(t)], max_epochs=bound, rules=rules,
                                      batches=batches, eval_batch=eval_batch, seed=settings.seed)
        for t in trained:
            mine = [r for f, r in zip(fits, new_rows, strict=True) if f.trained is t]
            if not mine:
                continue
            folder = folders[id(t)]
            prog = progress[id(t)]
            for fit, state in zip(fits, states, strict=True):
                if fit.trained is t and fit.branch == branch_name(settings):
                    prog.level, prog.state = level, state
            prog.save(folder)
            rows[id(t)] = _append(folder, mine)
            _log_levels(t, mine)
            _clear_level(folder, level)


def _log_levels(t: TrainedRun, rows: Sequence[Mapping[str, Any]]) -> None:
    for row in rows:
        log.info("%s %s level %d: density %.4f, val acc %.4f after %d epochs", t.run.run_key,
                 row["branch"], row["level"], row["density"], row["val_acc"], row["epochs"])
        metrics = {f"retrain/{row['branch']}/{k}": float(row[k]) for k in ("density", "val_acc", "val_loss",
                                                                           "train_acc", "train_loss")}
        for logger in t.loggers:
            logger.log_metrics(metrics, step=int(row["level"]))


# -- fine-tuning -----------------------------------------------------------------------------

def _run_finetune(t: TrainedRun, batches: BatchLimits, eval_batch: int) -> None:
    settings = t.run.retrain
    assert isinstance(settings, FinetuneSettings)
    folder = branch_dir(t.run)
    folder.mkdir(parents=True, exist_ok=True)
    key = branch_key(t.run.run_key, settings)
    table = read_rows(folder)
    if not _has(table, key, 0):
        zero = _level_zero(t, [("finetune", key)], eval_batch)
        table = _append(folder, zero)
        _log_levels(t, zero)
    p = t.run.pruning
    trained_state = copy_state(t.model)
    named = {n: trained_state[n] for n, _ in prunable_weights(t.model)}
    levels = pruning_plan(named, p.method, p.step, p.schedule, p.min_density)  # type: ignore[arg-type]
    base = float(table[(table["branch_key"] == key) & (table["level"] == 0)]["val_acc"].iloc[0])

    def accuracy_at(level: int) -> float:
        nonlocal table
        done = table[(table["branch_key"] == key) & (table["level"] == level)]
        if len(done):
            return float(done["val_acc"].iloc[0])
        masks = levels.masks(level)
        fit = LevelFit(t, "finetune", key, masks, masked_state(trained_state, masks))
        rule: StopRule = t.run.build.stop_rule() if settings.stop_rule else TrainForEpochs()
        [row], _ = _fit_level([fit], level, lambda _: folder, max_epochs=settings.max_epochs, rules=[rule],
                           batches=batches, eval_batch=eval_batch, seed=settings.seed)
        row["density"] = levels.density(level)
        table = _append(folder, [row])
        _log_levels(t, [row])
        _clear_level(folder, level)
        return float(row["val_acc"])

    crossing = find_crossing(accuracy_at, base, [levels.remaining(k) for k in range(levels.levels)],
                             threshold=p.threshold, mode=p.threshold_mode,  # type: ignore[arg-type]
                             search=settings.search)
    log.info("%s finetune: %d fine-tunes, effective density %.4f%s", t.run.run_key, crossing.fine_tunes,
             crossing.degradation.effective_density,
             "" if crossing.monotone_at_bracket else " (accuracy not monotone at the bracket)")


# -- the record ------------------------------------------------------------------------------

def regime_trajectories(t: TrainedRun) -> dict[str, Trajectory]:
    """``none``'s one-shot trajectory and each branch's retrained one, by regime name."""
    out = {"none": _none_trajectory(t)}
    settings = t.run.retrain
    if settings.regime == "none":
        return out
    table = read_rows(branch_dir(t.run))
    controls = settings.controls if isinstance(settings, IMPSettings) else ()
    for control in (None, *controls):
        key = branch_key(t.run.run_key, settings, control)
        mine = table[table["branch_key"] == key]
        if len(mine) > 1:
            out[branch_name(settings, control)] = regime_trajectory(
                branch_name(settings, control), [_result(row) for row in mine.itertuples()])
    return out


def _result(row: Any) -> LevelResult:
    def value(x: Any) -> float | None:
        return None if x is None or x != x else float(x)

    return LevelResult(level=int(row.level), remaining_weights=int(row.remaining_weights),
                       val_acc=float(row.val_acc), val_loss=float(row.val_loss),
                       train_acc=float(row.train_acc), train_loss=float(row.train_loss),
                       epochs=int(row.epochs), test_acc=value(row.test_acc), test_loss=value(row.test_loss))


def _record_regimes(t: TrainedRun) -> None:
    p = t.run.pruning
    summaries = ed_by_regime(regime_trajectories(t), int(t.record.total_weights or 0), p.threshold,
                             p.threshold_mode)  # type: ignore[arg-type]
    t.record.ed_by_regime = {**t.record.ed_by_regime, **summaries}
    t.record.save(t.run.run_dir / "record.json")


# -- the recipe's step -----------------------------------------------------------------------

def retrain_chunk(members: Sequence[RunSettings], records: Sequence[RunRecord], plan: MemoryPlan,
                  held: contextlib.ExitStack, *, locked: Sequence[bool]) -> None:
    """Add each trained member's retraining branch (`propensity.run.branches`), from its kept
    trained weights: the dense model is never trained again. A finished run skipped by this
    job is locked here first; one busy elsewhere is left to its holder."""
    ready = []
    for member, record, have_lock in zip(members, records, locked, strict=True):
        if not have_lock:
            lock = RunLock(member.run_dir)
            try:
                lock.acquire()
            except RunBusyError as busy:
                log.info("skip the %s branch of %s: %s", member.retrain.regime, member.run_key, busy)
                continue
            held.callback(lock.release)
        ready.append((member, record))
    if not ready:
        return
    batches = batch_limits(ready[0][0].trainer)
    modules: dict[int, TensorDataModule] = {}
    trained = []
    for member, record in ready:
        data = data_module(member, modules)
        model = load_trained(member, build_model(member, data))
        loggers = branch_loggers(member, record) if batches.logging else []
        trained.append(TrainedRun(member, record, model, data, loggers))
    try:
        with interruptible():
            run_branches(trained, batches, plan.evaluation_batches(members)[0])
    finally:
        for t in trained:
            close_loggers(t.loggers, t.record)


def branch_loggers(member: RunSettings, record: RunRecord) -> list[Any]:
    """The branch's own experiment loggers: a CSV log in its folder, a W&B run named by its
    branch key, so the trained run's logs are left as they were."""
    where = branch_dir(member)
    where.mkdir(parents=True, exist_ok=True)
    named = dataclasses.replace(record, run_key=branch_key(member.run_key, member.retrain))
    return make_loggers(dataclasses.replace(member, run_dir=where), named, reinit="create_new")
