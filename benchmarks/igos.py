"""Benchmark: time to quality for I-GOS and Mask (seconds per image beside what the mask achieved).

Model: the embedded EfficientNet-Lite0. Photos: the confident ones (p >= 0.3) of the chosen
set (default: the embedded photos; ``--images imagenet-samples`` for the held-out ImageNet
samples), one image at a time and as one batch. For each configuration and mask resolution
the table gives, from the same run:

* seconds per image (wall clock, model loading excluded) and forward/backward passes;
* the mean ratio ``p(masked) / p(x)`` (the target's probability on the photo under the final
  mask over that on the photo), how many photos it at least halved and how many stalled
  (``p(masked) > 0.9 p(x)``);
* deletion and insertion (blur baseline, ``--metric-steps`` steps, seeded tie order).

Configurations: I-GOS with its defaults; I-GOS with the paper's literal settings
(``preset="paper"``), which stall on this model; I-GOS defaults with IGOS++'s path-averaged
line search (``line_search_loss="path"``); Mask with its defaults (500 Adam steps). With
``--authors PATH`` (a checkout of khorrams/IGOS_pp; its code is imported from there, never
copied here) the authors' own I-GOS runs on the same photos in the same process
(``benchmarks/authors.py``), one image at a time as their code does.

Run: ``python benchmarks/igos.py [--authors PATH] [--device cuda]``; writes
``benchmarks/results/igos.md``. ``--quick`` for a smoke run.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

# This file is called igos.py: drop its folder from the path so that `import igos` finds the package.
HERE = Path(__file__).resolve().parent
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import torch  # noqa: E402

import igos  # noqa: E402
from igos import metrics  # noqa: E402


def timed(fn, device):
    """``(result, wall seconds)``."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start


class Counter:
    """Counts the model's forward passes (inputs) through a forward hook."""

    def __init__(self, model):
        self.inputs = 0
        self.handle = model.register_forward_hook(self)

    def __call__(self, module, args, output):
        self.inputs += args[0].shape[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--images", default="embedded", help="embedded or imagenet-samples")
    ap.add_argument("--n-images", type=int, default=4, help="confident photos to use")
    ap.add_argument("--resolutions", default="28,224")
    ap.add_argument("--metric-steps", type=int, default=50)
    ap.add_argument("--batch", action="store_true", help="also time all photos as one batch")
    ap.add_argument("--authors", default=None, help="path of a khorrams/IGOS_pp checkout: run the authors' I-GOS too")
    ap.add_argument("--quick", action="store_true", help="2 iterations, for a smoke test")
    ap.add_argument("--out", default=str(HERE / "results" / "igos.md"))
    args = ap.parse_args()
    device = igos.resolve_device(args.device)
    model = igos.load_model("efficientnet_lite0", device=device)
    data = igos.load_images(args.images).to(device)
    with torch.no_grad():
        p = model(data.images).softmax(1)[torch.arange(len(data)), data.labels]
    keep = [i for i in range(len(data)) if p[i] >= 0.3][:args.n_images]
    images, target, names = data.images[keep], data.labels[keep], [data.names[i] for i in keep]
    it = dict(n_iter=2) if args.quick else {}
    configs = {
        "I-GOS (default)": lambda x, t, r: igos.i_gos(model, x, t, resolution=r, return_history=True, **it),
        "I-GOS (preset paper)": lambda x, t, r: igos.i_gos(model, x, t, resolution=r, preset="paper",
                                                           return_history=True, **it),
        "I-GOS (default, path line search)": lambda x, t, r: igos.i_gos(model, x, t, resolution=r,
                                                                        line_search_loss="path",
                                                                        return_history=True, **it),
        "Mask (default, 500 Adam steps)": lambda x, t, r: igos.meaningful_perturbation(model, x, t, resolution=r, return_history=True,
                                                                    **({"n_iter": 10} if args.quick else {})),
    }
    out = ["# I-GOS and Mask: time to quality\n",
           f"Written by `benchmarks/igos.py` on {datetime.date.today()}; device: {igos.device_name(device)}, "
           f"{platform.processor() or platform.machine()}, torch {torch.__version__}; load average at the start "
           f"{os.getloadavg()[0]:.1f}. Model: EfficientNet-Lite0. Photos ({args.images}, p >= 0.3): "
           f"{', '.join(names)}. Metrics: blur baseline, {args.metric_steps} steps, seeded tie order. "
           "`passes / image`: model inputs through the network (forward, with or without backward).\n",
           "| configuration | r | images per call | s / image | passes / image | p(masked) / p(x) | halved | stalled "
           "| deletion | insertion | iterations |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def flush():
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(out) + "\n")

    def record(name, r, per_call, sal, p0, p1, seconds, passes, iterations):
        n = sal.shape[0]
        dele = metrics.deletion(model, images, sal, target, n_steps=args.metric_steps)
        ins = metrics.insertion(model, images, sal, target, n_steps=args.metric_steps)
        line = (f"| {name} | {r} | {per_call} | {seconds / n:.1f} | {passes / n:.0f} | {(p1 / p0).mean():.3f} | "
                f"{int((p1 <= 0.5 * p0).sum())} of {n} | {int(metrics.stalled(p0, p1).sum())} | {dele.mean():.3f} | "
                f"{ins.mean():.3f} | {iterations} |")
        print(line, flush=True)
        out.append(line)
        flush()

    authors = None
    if args.authors:
        sys.path.insert(0, str(HERE))
        import authors  # noqa: E402  (benchmarks/authors.py)

    for r in (int(v) for v in args.resolutions.split(",")):
        for name, fn in configs.items():
            sizes = [1] + ([len(images)] if args.batch else [])
            for per_call in sizes:
                counter = Counter(model)
                sals, p0s, p1s, its, seconds = [], [], [], [], 0.0
                for start in range(0, len(images), per_call):
                    x, t = images[start:start + per_call], target[start:start + per_call]
                    (sal, hist), sec = timed(lambda: fn(x, t, r), device)
                    seconds += sec
                    sals.append(sal)
                    p0s.append(hist["prob"][0])
                    p1s.append(hist["prob"][-1])
                    its.append(hist["iterations"].float())
                counter.handle.remove()
                its = torch.cat(its)
                record(name, r, per_call, torch.cat(sals), torch.cat(p0s), torch.cat(p1s), seconds, counter.inputs,
                       f"{its.mean():.1f}")
        if args.authors:
            counter = Counter(model)
            sals, p1s, seconds, its = [], [], 0.0, []
            for i in range(len(images)):
                sal, sec, info = authors.run_authors(args.authors, model, images[i:i + 1], int(target[i]), resolution=r,
                                                     **({"max_iter": 2} if args.quick else {}))
                seconds += sec
                sals.append(sal[None].to(device))
                its.append(float(info.get("iterations", float("nan"))))
            counter.handle.remove()
            sal = torch.cat(sals)
            base = igos.blur(images)
            with torch.no_grad():
                masked = igos.perturbation.perturb(images, base, igos.perturbation.up(1 - sal, images.shape[-2:]))
                p1 = model(masked).softmax(1)[torch.arange(len(images)), target]
            p0 = p[keep].to(device)
            record("I-GOS, the authors' code (IGOS++ defaults)", r, 1, sal, p0, p1, seconds, counter.inputs,
                   f"{sum(its) / len(its):.1f}")
    flush()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
