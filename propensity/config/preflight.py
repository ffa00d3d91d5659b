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
from collections.abc import Callable, Iterable
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
                                ("model", _check_model, ("model", "data", "width", "pruning")),
                                ("optim", _check_optimizer, ("optim",)),
                                ("stop", _check_stop, ("stop",)),
                                ("logger", _check_logger, ("logger",)),
                                ("trainer", _check_trainer, ("trainer",))):
        key = name + json.dumps([resolved.get(g) for g in groups], sort_keys=True, default=str)
        if key not in cache:
            try:
                cache[key] = check(cfg)
            except Exception as error:  # a library's own refusal the checks did not foresee
                cache[key] = [_line(name, cfg[name], error, f"change the {name} settings")]
        found += cache[key]
        if found and name == "data":  # the model is built for the data set's shapes
            break
    return found


def check(cfg: DictConfig, cache: Cache | None = None) -> None:
    """Raise `ConfigError` with the first pre-flight problem of `cfg`, if it has one."""
    found = problems(cfg, cache)
    if found:
        raise ConfigError(found[0])


def _data(cfg: DictConfig) -> Any:
    from propensity.identity import batch_seed

    return build(cfg.data, data_seed=int(cfg.data_seed), batch_seed=batch_seed(cfg.init_seed, cfg.data_seed))


def _check_data(cfg: DictConfig) -> list[str]:
    found = _check_arguments("data", cfg.data, lambda _: _data(cfg), "data module")
    if found:
        return found
    missing = _data(cfg).missing()
    if missing is None:
        return []
    root = cfg.data.get("root")
    return [f"data.root={_show(root)}: {missing}" if root is not None else f"data={cfg.data.name}: {missing}"]


def _check_model(cfg: DictConfig) -> list[str]:
    """The model is built as the recipe builds it (on the CPU, untrained), must be a
    ``torch.nn.Module``, and every requested pruning method must be able to prune it
    (`propensity.pruning.registry.refusal`, which runs the method's model-dependent part)."""
    import torch

    from propensity.pruning.registry import refusal
    from propensity.pruning.settings import PruningSettings

    data = _data(cfg)
    built: list[Any] = []

    def make(_: dict[str, Any]) -> Any:
        with torch.random.fork_rng(devices=[]):
            built.append(build(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes))
        return built[-1]

    found = _check_arguments("model", cfg.model, make, "model")
    if found:
        return found
    model = built[-1]
    if not isinstance(model, torch.nn.Module):
        return [f"model._target_={cfg.model._target_}: returned a {type(model).__name__}, not a "
                "torch.nn.Module; make the factory return the model"]
    settings = PruningSettings.from_mapping(OmegaConf.to_container(cfg.pruning, resolve=True))
    for key, name in [("pruning.method", settings.method)] + [
            (f"pruning.baselines[{i}]", b) for i, b in enumerate(settings.baselines)]:
        problem = refusal(name, model, data.input_shape, data.num_classes, settings)
        if problem is not None:
            what, _, fix = problem.partition("; ")  # a method that knows the fix says it
            fix = fix or "choose a method that can, e.g. pruning.method=magnitude, or another model"
            return [f"{key}={name}: cannot prune model={cfg.model.name}: {what}; {fix}"]
    return []


def _check_stop(cfg: DictConfig) -> list[str]:
    return _check_arguments("stop", cfg.stop, lambda params: build(OmegaConf.create(params)), "stop rule")


def _check_logger(cfg: DictConfig) -> list[str]:
    """The logger's arguments by its signature alone: building one would start a W&B run."""
    if cfg.logger.get("_target_") is None:
        return []
    return _check_arguments("logger", cfg.logger, None, "logger")


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


def _check_arguments(group: str, node: DictConfig, make: Callable[[dict[str, Any]], Any] | None,
                     what: str) -> list[str]:
    """Check `node`'s arguments against its target's signature (names, and the types it
    declares), then build it with `make`; when that fails, name the key: the one key that
    fails when given alone, else the whole group."""
    params = OmegaConf.to_container(node, resolve=True)
    assert isinstance(params, dict)
    target = str(params.get("_target_"))
    fixed = {k: v for k, v in params.items() if k.startswith("_") or k in DESCRIPTIVE}
    given = {k: v for k, v in params.items() if k not in fixed}
    try:
        accepted = _arguments(target)
    except Exception as error:
        return [_line(f"{group}._target_", target, error, f"point {group}._target_ at a class or function")]
    if accepted is not None:
        unknown = [k for k in given if k not in accepted]
        if unknown:
            return [f"{group}.{k}={_show(given[k])}: {target} takes no argument {k!r}; "
                    f"{_suggest(k, accepted, group)}" for k in unknown]
        wrong = [(k, accepted[k]) for k in given if not _fits(given[k], accepted[k])]
        if wrong:
            return [f"{group}.{k}={_show(given[k])}: must be {_kind(kind)}; set {group}.{k} to "
                    f"{_kind(kind)}, or leave it out" for k, kind in wrong]
    if make is None:
        return []
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


def _arguments(target: str) -> dict[str, Any] | None:
    """The keyword arguments `target` (a dotted class or function path) takes, each with the
    type it declares (`Any` where none or not a plain one); None when it takes any."""
    import typing

    from hydra.utils import get_object

    factory = get_object(target)
    try:
        signature = inspect.signature(factory)
    except ValueError:  # a builtin without one: its constructor is the check
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()):
        return None
    try:
        hints = typing.get_type_hints(factory.__init__ if inspect.isclass(factory) else factory)
    except Exception:  # annotations that do not evaluate: check names only
        hints = {}
    return {name: hints.get(name, Any) for name in signature.parameters if name not in ("self", "params")}


_PLAIN = (bool, int, float, str)


def _fits(value: Any, kind: Any) -> bool:
    """Whether a config value can be `kind` (bool, int, float, str, or a union holding them);
    any other declared type is the constructor's to check."""
    import types
    import typing

    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    if not all(o in _PLAIN or o is type(None) for o in options):
        return True
    if value is None:
        return type(None) in options
    if isinstance(value, bool):
        return bool in options
    if isinstance(value, int):
        return bool(options and {int, float} & set(options))
    if isinstance(value, float):
        return float in options
    return type(value) in options


def _kind(kind: Any) -> str:
    import types
    import typing

    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             type(None): "null"}
    return " or ".join(names.get(o, getattr(o, "__name__", str(o))) for o in options)


def _suggest(key: str, accepted: Iterable[str], group: str) -> str:
    close = difflib.get_close_matches(key, sorted(accepted), n=1)
    if close:
        return f"did you mean {group}.{close[0]}?"
    return f"leave it out (it takes {', '.join(sorted(accepted)) or 'no arguments'})"


def _line(key: str, value: Any, error: BaseException, fix: str) -> str:
    message = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if message.startswith(f"{key.split('.')[0]}.") and ";" in message:
        return message  # already one line naming its key (the data modules' own checks)
    return f"{key}={_show(value)}: {type(error).__name__}: {message}; {fix}"
