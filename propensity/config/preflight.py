"""The checks a job's config must pass before any data loads: the pre-flight.

`validate` finds values that cannot give a meaningful run; the pre-flight adds what only the
libraries can say, without loading a data set or training a step:

- the data set is present (`TensorDataModule.missing`; the constructor's own checks run too);
- the optimiser accepts the job's keyword arguments, built on a dummy parameter;
- the Trainer accepts the job's arguments, passing Lightning's own checks at construction;
- each pruning method can take the model (`PruningMethod.refusal`: OBD's exact Hessian diagonal,
  for one, takes only networks piecewise linear in their weights), asked of the model built on
  the meta device, where a method may refuse some model at all.

Each problem is one line, ``key=value: problem; fix``, naming the key even where the library's
message does not. A sweep runs the pre-flight for every job before launching any (the cohort
sweeper, ``hydra_plugins``), a single run before its data loads; a sweep of hundreds of jobs
whose data set is missing is refused in seconds, with nothing submitted.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from propensity.config.build import DESCRIPTIVE, build
from propensity.config.validation import ConfigError, _show, validate

# Cached results of the checks, by the config groups they read: a sweep's jobs mostly share them.
Cache = dict[str, list[str]]


def problems(cfg: DictConfig, cache: Cache | None = None) -> list[str]:
    """Every pre-flight problem of one run's composed config, one line each ([] when none)."""
    try:
        validate(cfg)
    except ConfigError as error:
        return [str(error)]
    cache = {} if cache is None else cache
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    found = []
    for name, check, groups in (("data", _check_data, ("data", "init_seed", "data_seed")),
                                ("optim", _check_optimizer, ("optim",)),
                                ("trainer", _check_trainer, ("trainer",)),
                                ("pruning", _check_pruning_methods, ("model", "data", "pruning"))):
        key = name + json.dumps([resolved.get(g) for g in groups], sort_keys=True, default=str)
        if key not in cache:
            cache[key] = check(cfg)
        found += cache[key]
    return found


def check(cfg: DictConfig, cache: Cache | None = None) -> None:
    """Raise `ConfigError` with the first pre-flight problem of `cfg`, if it has one."""
    found = problems(cfg, cache)
    if found:
        raise ConfigError(found[0])


def _check_data(cfg: DictConfig) -> list[str]:
    from propensity.identity import batch_seed

    try:
        data = build(cfg.data, data_seed=int(cfg.data_seed),
                     batch_seed=batch_seed(cfg.init_seed, cfg.data_seed))
    except Exception as error:  # the constructor's own one-line checks (sizes, seeds)
        return [_line("data", cfg.data, error, "see propensity/conf/data")]
    missing = data.missing()
    if missing is None:
        return []
    root = cfg.data.get("root")
    return [f"data.root={_show(root)}: {missing}" if root is not None else f"data={cfg.data.name}: {missing}"]


def _check_optimizer(cfg: DictConfig) -> list[str]:
    import torch

    def make(params: dict[str, Any]) -> Any:
        factory = build(OmegaConf.create(params))
        return factory([torch.nn.Parameter(torch.zeros(1))])

    return _check_arguments("optim", cfg.optim, make, "optimiser")


def _check_trainer(cfg: DictConfig) -> list[str]:
    from lightning.pytorch.plugins.environments import LightningEnvironment

    # On the CPU, with nothing attached: the accelerator and devices are `validate`'s, and the
    # parent of a sweep must not initialise CUDA.
    def make(params: dict[str, Any]) -> Any:
        return build(OmegaConf.create({**params, "accelerator": "cpu", "devices": 1}), logger=False,
                     enable_checkpointing=False, callbacks=[], plugins=[LightningEnvironment()])

    return _check_arguments("trainer", cfg.trainer, make, "Trainer")


def _check_pruning_methods(cfg: DictConfig) -> list[str]:
    import torch

    from propensity.pruning.registry import method

    names = [str(cfg.pruning.method), *(str(b) for b in cfg.pruning.baselines)]
    asked = [name for name in names if method(name).may_refuse]
    if not asked:
        return []
    try:
        data = build(cfg.data, data_seed=int(cfg.data_seed), batch_seed=0)  # knows its shape, loads nothing
        with torch.device("meta"):
            model = build(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes)
    except Exception:  # the data and model checks name what fails to build
        return []
    found = []
    for name in asked:
        refusal = method(name).refusal(model, data.input_shape)
        if refusal is not None:
            key = "pruning.method" if name == names[0] else "pruning.baselines"
            value = name if name == names[0] else f"[{','.join(names[1:])}]"
            found.append(f"{key}={value}: {name} cannot take model {cfg.model.get('name', '')}: {refusal}")
    return found


def _check_arguments(group: str, node: DictConfig, make: Callable[[dict[str, Any]], Any],
                     what: str) -> list[str]:
    """Build `node` with `make`; when it fails, name the key: an argument the target does not
    take, else the one key that fails when given alone."""
    params = OmegaConf.to_container(node, resolve=True)
    assert isinstance(params, dict)
    target = str(params.get("_target_"))
    fixed = {k: v for k, v in params.items() if k.startswith("_") or k in DESCRIPTIVE}
    given = {k: v for k, v in params.items() if k not in fixed}
    try:
        accepted = _arguments(target)
    except Exception as error:
        return [_line(f"{group}._target_", target, error, f"point {group}._target_ at a class")]
    if accepted is not None:
        unknown = [k for k in given if k not in accepted]
        if unknown:
            return [f"{group}.{k}={_show(given[k])}: {target} takes no argument {k!r}; "
                    f"{_suggest(k, accepted, group)}" for k in unknown]
    try:
        make(params)
        return []
    except Exception as error:
        whole = error
    for key, value in given.items():
        try:
            make({**fixed, **({"lr": given["lr"]} if "lr" in given and key != "lr" else {}), key: value})
        except Exception as error:
            return [_line(f"{group}.{key}", value, error,
                          f"set {group}.{key} to a value the {what} accepts, or leave it out")]
    return [_line(group, node, whole, f"change the {group} arguments")]


def _arguments(target: str) -> set[str] | None:
    """The keyword arguments `target` (a dotted class path) takes; None when it takes any."""
    from hydra.utils import get_class

    signature = inspect.signature(get_class(target).__init__)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    return {name for name in signature.parameters if name not in ("self", "params")}


def _suggest(key: str, accepted: set[str], group: str) -> str:
    close = difflib.get_close_matches(key, sorted(accepted), n=1)
    if close:
        return f"did you mean {group}.{close[0]}?"
    return f"leave it out (it takes {', '.join(sorted(accepted))})"


def _line(key: str, value: Any, error: BaseException, fix: str) -> str:
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if message.startswith(f"{key.split('.')[0]}.") and ";" in message:
        return message  # already one line naming its key (the data modules' own checks)
    return f"{key}={_show(value)}: {type(error).__name__}: {message}; {fix}"
