"""The command line: ``igos run | paper | config | table`` (also ``python -m igos ...``)."""
from __future__ import annotations

import os

from .dist import Dist, launch_workers, resolve_workers
from .results import ConfigMismatch, read_results
from .runner import run


def _paper(args, rank0: bool) -> int:
    """``python -m igos paper``: the chapters' shared experiment, then Table 6's pointing run."""
    from . import presets

    config = presets.chapter_config(args.fast, model=args.model, images=args.images, device=args.device)
    pointing = presets.pointing_config(args.fast, model=args.model, device=args.device)
    if args.dry_run:
        print(config["results"])
        print(pointing["results"])
        return 0
    if rank0:
        print(f"the shared experiment of the reproduction chapters -> {config['results']}", flush=True)
    run(config, progress=True)
    if rank0:
        print(f"Table 6's pointing game on the photos with boxes -> {pointing['results']}", flush=True)
    run(pointing, progress=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m igos run CONFIG [...]``, ``python -m igos paper [--fast]``, ``python -m igos config paper [...]``,
    ``python -m igos table RESULTS [--paper N]``."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m igos", description="igos experiment runner")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run or resume an experiment (also under torchrun)")
    p_run.add_argument("config", help="a YAML or JSON config file")
    p_run.add_argument("--results", help="results JSONL file (default: the config's 'results')")
    p_run.add_argument("--fresh", action="store_true", help="delete earlier results at that path first")
    p_run.add_argument("--device", help="override the config's device (auto, cpu, cuda, ...)")
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar")
    workers_help = ("local processes (torch.distributed.run), each with cores / N threads; 'auto': one per core "
                    "on a CPU, 1 on a GPU (default: %(default)s)")
    p_run.add_argument("--workers", default="1", help=workers_help)
    p_pap = sub.add_parser("paper", help="run (or resume) the reproduction chapters' shared experiment, with progress")
    p_pap.add_argument("--fast", action="store_true", help="CI sizes (what IGOS_FAST=1 gives the chapters)")
    p_pap.add_argument("--model", default="efficientnet_lite0")
    p_pap.add_argument("--images", default="imagenet-samples")
    p_pap.add_argument("--device", default="auto")
    p_pap.add_argument("--dry-run", action="store_true", help="print the results path only")
    p_pap.add_argument("--workers", default="auto", help=workers_help)
    p_cfg = sub.add_parser("config", help="write a config for 'python -m igos run' (igos config paper ...)")
    p_cfg.add_argument("kind", choices=["paper", "pointing"],
                       help="paper: the experiment of Tables 1-5 (igos.experiment.presets.paper_config); "
                            "pointing: Table 6's pointing game on photos with boxes")
    p_cfg.add_argument("--model", default="efficientnet_lite0")
    p_cfg.add_argument("--images", help="paper: imagenet-samples (default), embedded, or an ImageNet val folder (a "
                                        "seeded random sample of it); pointing: embedded (default), "
                                        "voc07:<folder> or coco:<folder> (a local VOC 2007 / COCO val2014 copy)")
    p_cfg.add_argument("--n-images", type=int, help="images to use (default: the scale's)")
    p_cfg.add_argument("--scale", choices=["fast", "cpu", "paper"], default="paper")
    p_cfg.add_argument("--results", help="results JSONL file the config names (default: under results/)")
    p_cfg.add_argument("-o", "--output", help="YAML file to write (default: beside the results file)")
    p_tab = sub.add_parser("table", help="summarise a results file (mean and 95%% interval)")
    p_tab.add_argument("results", help="results JSONL file")
    p_tab.add_argument("--paper", type=int, choices=range(1, 7), help="lay it out as the paper's Table N")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command in ("run", "paper") and not getattr(args, "dry_run", False) and "WORLD_SIZE" not in os.environ:
        try:
            n = resolve_workers(args.workers, args.device or "auto")
        except (ValueError, RuntimeError) as err:
            parser.error(str(err))
        if n > 1:
            return launch_workers(n, argv)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if args.command == "paper":
        dist = Dist()          # one process group for both runs (a group torn down and set up again can hang)
        try:
            return _paper(args, rank0)
        finally:
            dist.close()
    if args.command == "run":
        try:
            path = run(args.config, args.results, fresh=args.fresh, device=args.device,
                       progress=not args.no_progress)
        except ConfigMismatch as err:
            parser.exit(2, f"error: {err}\n")
        if rank0:
            print(f"results: {path}")
        return 0
    if args.command == "config":
        from . import presets

        if args.kind == "paper":
            config = presets.paper_config(model=args.model, images=args.images or "imagenet-samples",
                                               n_images=args.n_images, scale=args.scale, results=args.results)
        else:
            config = presets.pointing_config(model=args.model, images=args.images or "embedded",
                                                  n_images=args.n_images, scale=args.scale)
            if args.results:
                config["results"] = args.results
        path = presets.write_config(config, args.output)
        print(f"wrote {path}; run it with: python -m igos run {path}")
        return 0
    from .. import tables

    rows = read_results(args.results)
    if args.paper:   # only the rows that feed that table (the ablations and Table 5's settings are not Table 1's)
        frame = tables.compare(rows, args.paper)
        print(frame.to_string())
        print(f"({frame.attrs.get('ci', '')})")
    else:
        print(tables.summarize(rows).to_string())
    return 0
