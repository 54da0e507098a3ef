"""Training: the trainer and what it is built from (config, tasks, data, run files, plots).

    Trainer(TrainConfig(task="charlm", steps=1000, out="runs/charlm")).run()

Modules, one job each: ``config`` (settings, their defaults and checks, merging on resume),
``trainer`` (the loop: steps, evaluation, checkpoints, exact resume), ``tasks`` and
``task_builder`` (the char-LM and adding models with their batches), ``data`` (corpora, the
adding problem, the bigram baseline), ``run_dir`` (OUT: its lock and its files),
``runlog`` (metrics.jsonl), ``run_record`` (best and recent evals, time across resumes),
``divergence`` (the guard), ``stop_request`` (Ctrl-C, SIGTERM), ``plots`` (PNGs),
``errors`` (what a run raises).
"""

from .config import TASK_DEFAULTS, TrainConfig
from .errors import Diverged, Interrupted, RunLocked, StorageError, TrainingError
from .task_builder import build_task, load_text
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "TrainingError", "Diverged", "Interrupted",
           "StorageError", "RunLocked", "build_task", "load_text", "TASK_DEFAULTS"]
