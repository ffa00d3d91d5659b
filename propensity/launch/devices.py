"""One job per device: which GPU a job of a sweep trains on, read without initialising CUDA.

Scheduling is Hydra's (joblib on one machine, submitit on SLURM); ``launcher=gpus`` starts one
worker per visible device and binds job N to device ``N mod count``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf


def visible_devices() -> list[str]:
    """CUDA devices this process may use, read without initialising CUDA.

    ``CUDA_VISIBLE_DEVICES`` when set; otherwise NVML's device count via torch, which does
    not create a CUDA context (the parent of a joblib sweep must not hold one).
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip() not in ("", "-1")]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def assign_device(job_num: int, devices: Sequence[str]) -> int | None:
    """Index into `devices` for job `job_num`: round-robin, ``job_num mod len(devices)``.

    With as many workers as devices, jobs 0..N-1 start on distinct GPUs; a later job takes
    the device of the job N places before it. None when there is no device (CPU).
    """
    if job_num < 0:
        raise ValueError(f"job_num={job_num} must be >= 0")
    return job_num % len(devices) if devices else None


def job_device(cfg: DictConfig) -> dict[str, Any]:
    """Trainer overrides binding this job to one GPU, when ``device_from_job`` is set."""
    if not cfg.get("device_from_job", False):
        return {}
    from hydra.core.hydra_config import HydraConfig

    job_num = HydraConfig.get().job.num if HydraConfig.initialized() else 0
    index = assign_device(int(job_num or 0), visible_devices())
    if index is None:
        return {"accelerator": "cpu", "devices": 1}
    return {"accelerator": "gpu", "devices": [index]}


def device_of(cfg: DictConfig) -> Any:
    """The job's `torch.device`: under ``launcher=gpus`` its GPU (`job_device`), else ``cuda``
    when the trainer may use it and one is visible, else the CPU. Both engines train there."""
    import torch

    bound = job_device(cfg)
    if bound:
        devices = bound["devices"]
        return torch.device("cpu") if bound["accelerator"] == "cpu" else torch.device("cuda", devices[0])
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def worker_count(cpu_workers: int = 2) -> int:
    """Workers of the ``gpus`` launcher: one per visible GPU, else `cpu_workers`."""
    return len(visible_devices()) or int(cpu_workers)


def register_resolvers() -> None:
    """OmegaConf resolvers used by ``propensity/conf/launcher``; safe to call more than once."""
    from propensity.launch.slurm import gpus_per_task

    if not OmegaConf.has_resolver("propensity.workers"):
        OmegaConf.register_new_resolver("propensity.workers", worker_count)
    if not OmegaConf.has_resolver("propensity.gpus"):
        OmegaConf.register_new_resolver("propensity.gpus", gpus_per_task)
