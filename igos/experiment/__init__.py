"""The experiment runner: methods x resolutions x images -> one JSON line per result.

Run it from the shell::

    python -m igos run experiment.yaml                    # one process
    python -m igos run experiment.yaml --workers auto     # on a CPU: one process per core
    torchrun --nproc-per-node 4 -m igos run experiment.yaml  # 4 processes (GPUs or CPU)

or from Python with :func:`run`. A config (YAML or JSON) looks like::

    model: efficientnet_lite0        # a name of igos.MODELS
    images: embedded                 # imagenet-samples, or a folder / file (relative to the config file)
    n_images: 50                     # null: all; the first n in sorted order ...
    image_size: 224                  # centre crop (after resizing the shorter side to 256/224 of it)
    image_seed: null                 # ... or a random subset drawn with this seed
    seed: 0                          # passed to every method that takes `seed`
    device: auto                     # not part of the config hash
    target: label                    # "label": the true class (the prediction when it is unknown; a
                                     # label outside the model's classes raises), "predicted", or an int
    resolutions: [224, 112, 28, 14]  # for methods that take `resolution` (i_gos, mask, ...)
    methods:                         # a list of names / specs, or {name: options}
      - gradient
      - {name: i_gos, label: i_gos_no_tv, options: {tv: 0}, resolutions: [28], n_images: 5}
      - {name: mask, resolutions: [224, 112, 28], n_images: {112: 5}}
                                     # n_images on a method: only the run's first n images (an int,
                                     # or per resolution: those not named use every image)
    metrics: {n_steps: 100, baseline: blur, batch_size: 64, tolerance: 15, curves: false}
                                     # deletion_insertion: false skips both curves (a pointing-game run)
    results: results/exp.jsonl       # default: <config name>.jsonl beside the config

Each (image, method, resolution) gives one row. The row is appended to the results
file as soon as it is computed, and the file is flushed and fsynced. A row holds the
deletion and insertion AUCs, the pointing game hit (when the image has a box), the
method's seconds, its iterations and final loss (when the method reports them through
``callback``), the device, the package and torch versions, and the config hash.
Methods without a ``resolution`` argument give one row at their native map size, with
``resolution: null``.

**Resuming.** A rerun reads every finished row and skips it. A row counts as finished
only when its line is complete (it ends with a newline and parses). A process killed
with ``kill -9`` can leave half a line at the end of its file; the process that owns the
file cuts it off before appending again, so the row is recomputed once. A results file
written by a different config (another hash) is refused. Delete it, pass ``--fresh``, or
choose another ``--results`` path.

**Scaling.** Under ``torchrun`` (``WORLD_SIZE > 1``), image ``i`` goes to rank
``i % WORLD_SIZE``. Every rank appends to its own part file ``<results>.parts/rank-R.jsonl``.
After a barrier, rank 0 merges the parts and any earlier rows into ``<results>``: it
deduplicates by key, sorts in plan order, writes a temporary file, renames it into place,
and only then deletes the parts. torch.distributed is used for the barriers only, with
the ``gloo`` backend even on GPUs. A barrier needs no tensors on the device, and gloo
avoids NCCL's device binding and watchdog for processes that wait a long time for a
slower rank. With several nodes, the results path must be on a shared file system. A
one-process run appends to ``<results>`` directly and rewrites it sorted at the end.

**CPU workers.** ``--workers N`` (``run`` and ``paper``) starts the same thing on one machine:
``N`` processes under ``torch.distributed.run``, each with ``cores // N`` threads. On a CPU
this is faster than one process with every thread: a small batch through a small CNN keeps
one core busy far better than it spreads over several (on 2 cores, 2 workers of 1 thread ran
the shared experiment's rows 1.4 times faster than 1 process of 2 threads). ``auto`` is one
worker per core (at most :data:`MAX_WORKERS`) on a CPU, and 1 on a GPU. The numbers of a row
depend on the thread count only through float rounding, which an optimiser (I-GOS's line
search) can amplify; the row records its ``world_size`` and ``device_name`` (with threads).

**Modules.** :mod:`~igos.experiment.config` (reading, normalising, hashing, planning),
:mod:`~igos.experiment.results` (the JSONL files), :mod:`~igos.experiment.dist` (ranks, barriers,
CPU workers), :mod:`~igos.experiment.runner` (the loop), :mod:`~igos.experiment.presets` (the
paper's experiments as configs) and :mod:`~igos.experiment.cli` (the command line).

Explained in ``book/40_running_the_experiments.ipynb``.
"""
from . import presets
from .cli import main
from .config import (CONFIG_KEYS, METRIC_KEYS, UNHASHED, config_hash, load_config, normalize_config, plan,
                     resolve_method, row_key)
from .dist import MAX_WORKERS, cpu_cores, resolve_workers
from .results import VOLATILE, ConfigMismatch, RowWriter, parts_dir, read_results, read_rows
from .runner import ROW_METRICS, ImageSource, LossRecorder, evaluate, run

__all__ = ["CONFIG_KEYS", "METRIC_KEYS", "MAX_WORKERS", "ROW_METRICS", "UNHASHED", "VOLATILE", "ConfigMismatch", "ImageSource",
           "LossRecorder", "RowWriter", "config_hash", "cpu_cores", "evaluate", "load_config", "main",
           "normalize_config", "parts_dir", "plan", "presets", "read_results", "read_rows", "resolve_method",
           "resolve_workers", "row_key", "run"]
