"""SLURM as ``launcher=slurm`` uses it: resources from the environment, sbatch's refusals in
one line, and what happens to an interrupted task next.

One owner of signals: submitit's. Its job wrapper checkpoints and requeues a task that
reaches its time limit (``timeout_min``, signalled ``signal_delay_s`` before) or is preempted,
up to ``max_num_timeout`` times; Lightning trains in its plain environment
(`propensity.engines.lightning`), so its own SLURM auto-requeue never competes. A task that
SLURM requeues (``scontrol requeue``, preemption, submitit's requeue at the time limit)
resumes from its run's checkpoint when it starts again; one that is cancelled (``scancel``)
resumes when the command is run again.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

# sbatch's refusals -> the setting to change. The messages are SLURM's (22.05 and later).
_REFUSALS: tuple[tuple[str, str, str], ...] = (
    ("Invalid generic resource", "SLURM_GPUS_PER_TASK",
     "set SLURM_GPUS_PER_TASK=0 (in .env) for a partition without GPUs, or pick a GPU partition "
     "with SLURM_PARTITION"),
    ("Invalid partition", "SLURM_PARTITION", "set SLURM_PARTITION to one that `sinfo -s` lists"),
    ("Invalid account", "SLURM_ACCOUNT",
     "set SLURM_ACCOUNT (and SLURM_PARTITION) to a pair `sacctmgr show assoc user=$USER` lists"),
    ("time limit", "SLURM_TIMEOUT_MIN", "set SLURM_TIMEOUT_MIN within the partition's limit (`sinfo -s`)"),
    ("Memory specification", "SLURM_MEM_GB", "set SLURM_MEM_GB to what one node has (`sinfo -N -l`)"),
    ("node configuration is not available", "SLURM_CPUS_PER_TASK",
     "lower SLURM_CPUS_PER_TASK, SLURM_MEM_GB or SLURM_GPUS_PER_TASK to what one node has (`sinfo -N -l`)"),
)
_SETTING = {"SLURM_GPUS_PER_TASK": "gpus_per_task", "SLURM_PARTITION": "partition",
            "SLURM_ACCOUNT": "account", "SLURM_TIMEOUT_MIN": "timeout_min", "SLURM_MEM_GB": "mem_gb",
            "SLURM_CPUS_PER_TASK": "cpus_per_task"}


def gpus_per_task(value: object) -> int | None:
    """``hydra.launcher.gpus_per_task`` from ``SLURM_GPUS_PER_TASK``: 0 asks for no GPU (no
    ``--gpus-per-task`` at all, which a partition without GPUs refuses even as 0)."""
    try:
        count = int(str(value))
    except ValueError:
        raise ValueError(f"SLURM_GPUS_PER_TASK={value}: must be a whole number; "
                         "use 1 (one GPU per task) or 0 for a CPU partition") from None
    if count < 0:
        raise ValueError(f"SLURM_GPUS_PER_TASK={value}: must be >= 0; use 1, or 0 for a CPU partition")
    return count or None


def sbatch_refusal(error: BaseException, launcher: dict[str, object] | None = None) -> str | None:
    """One line for an sbatch refusal inside `error` (submitit's traceback text), naming the
    setting to change: ``hydra.launcher.<key>=<value> (SLURM_...): sbatch refused ...; fix``.
    None when `error` is not an sbatch refusal."""
    text = str(error)
    found = re.findall(r"sbatch: error: (.+)", text)
    if not found:
        return None
    reason = next((f for f in found if not f.startswith("Batch job submission failed")), found[-1])
    reason = reason.strip().rstrip(".")
    for needle, env, fix in _REFUSALS:
        if any(needle.lower() in f.lower() for f in found):
            key = _SETTING[env]
            value = (launcher or {}).get(key)
            return f"hydra.launcher.{key}={value} ({env}): sbatch refused the job array ({reason}); {fix}"
    return (f"hydra.launcher: sbatch refused the job array ({reason}); check SLURM_PARTITION, "
            "SLURM_ACCOUNT, SLURM_GPUS_PER_TASK, SLURM_CPUS_PER_TASK, SLURM_MEM_GB and "
            "SLURM_TIMEOUT_MIN in .env")


def slurm_job() -> str | None:
    """This process's SLURM job id (an array task has its own), or None outside SLURM."""
    return os.environ.get("SLURM_JOB_ID")


def was_requeued(job: str, timeout: float = 5.0) -> bool | None:
    """Whether SLURM has requeued `job` since this process started: its restart count, as
    ``scontrol`` reports it now, exceeds the one the task started with. None when scontrol
    cannot say."""
    try:
        shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True,
                               timeout=timeout, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in shown.splitlines():
        if re.match(rf"JobId={re.escape(job)}\b", line):
            restarts = re.search(r"\bRestarts=(\d+)", line)
            if restarts is None:
                return None
            return int(restarts.group(1)) > int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    return None


def next_step() -> str:
    """What happens to an interrupted run next, for the line that reports the interruption."""
    job = slurm_job()
    if job is None:
        return "rerun the command to resume"
    requeued = was_requeued(job)
    if requeued:
        return f"SLURM requeued job {job}; it resumes from the checkpoint when it starts again"
    if requeued is None:
        return (f"if SLURM requeues job {job} it resumes from the checkpoint; otherwise rerun the "
                "command to resume")
    return f"SLURM did not requeue job {job}; rerun the command to resume"


# The schema of ``launcher=slurm``'s resources: each key of ``hydra.launcher``, the variable
# it is read from (``conf/launcher/slurm.yaml``) and the least value that means anything.
@dataclass(frozen=True)
class Resource:
    """One whole-number resource of a SLURM task, read from the environment."""

    key: str
    env: str
    least: int
    example: int


RESOURCES: tuple[Resource, ...] = (
    Resource("timeout_min", "SLURM_TIMEOUT_MIN", 1, 240),
    Resource("array_parallelism", "SLURM_ARRAY_PARALLELISM", 1, 64),
    Resource("gpus_per_task", "SLURM_GPUS_PER_TASK", 0, 1),
    Resource("cpus_per_task", "SLURM_CPUS_PER_TASK", 1, 4),
    Resource("mem_gb", "SLURM_MEM_GB", 1, 16),
    Resource("max_num_timeout", "SLURM_MAX_REQUEUES", 0, 3),
    Resource("signal_delay_s", "SLURM_SIGNAL_DELAY_S", 0, 120),
)


def launcher_problems(
    value_of: Callable[[str], object], *, which: Callable[[str], str | None] = shutil.which,
    largest_node: Callable[[str | None], dict[str, int] | None] | None = None,
) -> list[str]:
    """Every problem of ``launcher=slurm``'s settings, one line each, before anything is
    submitted: SLURM must be installed here (``sbatch``); each resource, as `value_of` resolves
    ``hydra.launcher.<key>`` (raising for a value its resolver refuses), must be a whole number
    of at least its least value, without units; and the request must fit the largest node of
    the partition (`largest_node`, ``sinfo`` by default), or the array would pend forever."""
    if which("sbatch") is None:
        return ["launcher=slurm: SLURM is not installed on this machine (no sbatch); run the sweep "
                "where SLURM is, or use launcher=local or launcher=gpus here"]
    found, values = [], {}
    for resource in RESOURCES:
        raw = os.environ.get(resource.env)
        try:
            value = value_of(resource.key)
        except Exception:  # the variable's resolver refused it
            value = raw
        if resource.key == "gpus_per_task" and value is None:
            value = 0
        if isinstance(value, bool) or not isinstance(value, int) or value < resource.least:
            shown = raw if raw is not None else value
            found.append(f"{resource.env}={shown}: must be a whole number >= {resource.least}, without "
                         f"units; e.g. {resource.env}={resource.example} (in .env)")
        else:
            values[resource.key] = value
    if found:
        return found
    partition = value_of("partition")
    node = (largest_node or _largest_node)(None if partition is None else str(partition))
    if node is None:
        return []
    for key, env, unit in (("cpus_per_task", "SLURM_CPUS_PER_TASK", "CPUs"), ("mem_gb", "SLURM_MEM_GB", "GB"),
                           ("gpus_per_task", "SLURM_GPUS_PER_TASK", "GPUs")):
        if key in node and values[key] > node[key]:
            found.append(f"{env}={values[key]}: no node of partition {partition or '(default)'} has "
                         f"{values[key]} {unit} (the largest has {node[key]}), so the tasks would pend "
                         f"forever; set {env}={node[key]} or less (in .env)")
    return found


def _largest_node(partition: str | None, timeout: float = 10.0) -> dict[str, int] | None:
    """The most CPUs, memory (GB) and GPUs one node of `partition` has, as ``sinfo`` reports
    them; None when sinfo cannot say."""
    command = ["sinfo", "-h", "-N", "-o", "%c %m %G"] + (["-p", partition] if partition else [])
    try:
        shown = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    nodes = []
    for line in shown.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[0].isdigit() or not parts[1].rstrip("+").isdigit():
            continue
        gpus = sum(int(n) for n in re.findall(r"gpu(?::[^:(,]+)?:(\d+)", parts[2] if len(parts) > 2 else ""))
        nodes.append({"cpus_per_task": int(parts[0]), "mem_gb": int(parts[1].rstrip("+")) // 1024,
                      "gpus_per_task": gpus})
    if not nodes:
        return None
    return {key: max(n[key] for n in nodes) for key in nodes[0]}
