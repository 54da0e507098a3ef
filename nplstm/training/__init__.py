"""Training: the trainer and what it is built from (config, tasks, data, run files, plots).

    Trainer(TrainConfig(task="charlm", steps=1000, out="runs/charlm")).run()

Modules, one job each: ``config`` (settings, their defaults and checks, merging on resume, and
the exceptions a run raises), ``trainer`` (the loop: steps, evaluation, checkpoints, exact
resume, the divergence guard, Ctrl-C and SIGTERM), ``tasks`` (the char-LM and adding models
with their batches, built from a config), ``data`` (corpora, the adding problem, the bigram
baseline), ``run_dir`` (OUT: its lock, its files, the run log and the run record), ``plots``
(PNGs).
"""

from .config import (CELLS, TASK_DEFAULTS, Diverged, Interrupted, RunLocked, StorageError,
                     TrainConfig, TrainingError)
from .tasks import build_task, load_text
from .trainer import Trainer

__all__ = ["TrainConfig", "Trainer", "TrainingError", "Diverged", "Interrupted",
           "StorageError", "RunLocked", "build_task", "load_text", "TASK_DEFAULTS",
           "CELLS"]
