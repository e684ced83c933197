"""Benchmark: I-GOS and Mask on the embedded photos, seconds per image, objective, deletion/insertion.

Model: the embedded EfficientNet-Lite0. Images: the 7 embedded photos at 224 x 224 plus the
first one mirrored, 8 in all (a batch of 1 is the first photo). Paper settings: I-GOS 15
iterations x 20 path points, noise 0.2, Armijo line search, (lambda1, lambda2) = the
per-resolution defaults; Mask 500 Adam steps (lr 0.1), (0.01, 0.2), TV exponent 3. Both at
mask resolutions 224 and 28.

For every run the table gives the seconds per image (wall clock, including the line search,
excluding model loading), the mean final objective ``F`` (noiseless, each method's own
lambdas), and, for the batches of 8, the deletion and insertion AUCs (``igos.metrics``, blur
baseline, native resolution, 100 steps). A second table repeats the paper's Table 5 at 28 x 28:
both methods minimise the *same* objective (TV exponent 2) at the same lambdas, and the final
objectives are compared. A third table times I-GOS iterations for several ``batch_size``
values (model inputs per forward pass).

The authors' code (IGOS++ with its default 20 iterations x 15 path points, one image at a
time) needs about 56 s per image at r = 224 and 80 s at r = 28 on the same 2-core CPU
(measured when the issue was written). Run: ``python benchmarks/igos.py`` (add
``--device cuda`` on a GPU; ``--quick`` for a smoke run). Writes ``benchmarks/results/igos.md``.
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
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

import igos  # noqa: E402
from igos.methods.i_gos import default_lambdas  # noqa: E402


def load_metrics():
    """``igos.metrics`` when it exists (written concurrently), else ``None``."""
    try:
        from igos import metrics
        return metrics if hasattr(metrics, "deletion") and hasattr(metrics, "insertion") else None
    except ImportError:
        return None


def timed(fn, device):
    """``(result, wall seconds, CPU seconds of this process)``."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model", default="efficientnet_lite0", help="tiny_cnn for a smoke test")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--batch-size", type=int, default=5, help="model inputs per forward pass (I-GOS, metrics)")
    parser.add_argument("--mask-batch-size", type=int, default=None, help="images per pass for Mask (default all)")
    parser.add_argument("--resolutions", default="224,28")
    parser.add_argument("--metric-steps", type=int, default=100)
    parser.add_argument("--n-images", type=int, default=8, help="size of the big batch (8 = the paper setting here)")
    parser.add_argument("--quick", action="store_true", help="few iterations, for a smoke test")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: speed,table5,chunks")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "igos.md"))
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = igos.resolve_device(args.device)
    model = igos.load_model(args.model, device=device)
    photos = igos.load_images("embedded").images
    images = torch.cat([photos, photos[:1].flip(-1)])[:args.n_images].to(device)   # 7 photos + the first mirrored
    target = igos.predict(model, images)
    metrics = load_metrics()
    n_iter_igos, n_iter_mask = (2, 10) if args.quick else (15, 500)
    bs = args.batch_size
    out = [f"# I-GOS and Mask: speed and quality on the embedded photos\n",
           f"Written by `benchmarks/igos.py` on {datetime.date.today()}; device: {igos.device_name(device)}, "
           f"{platform.processor() or platform.machine()}, torch {torch.__version__}; load average when "
           f"starting: {os.getloadavg()[0]:.1f} (other processes share this machine; wall-clock times are "
           f"only as good as that). Model: {args.model}. Images: the 7 embedded photos + "
           f"the first mirrored (batch of 8); the batch of 1 is the first photo. I-GOS: {n_iter_igos} iterations x "
           f"20 path points, noise 0.2, Armijo line search, default lambdas, `batch_size={bs}` model inputs "
           f"per pass. Mask: {n_iter_mask} Adam steps, lr 0.1, (0.01, 0.2), TV exponent 3, all images of "
           f"the batch in one pass.\n"]
    if metrics is None:
        out.append("`igos.metrics` was not available: deletion/insertion columns are left empty.\n")
    runs = {}                                   # (method, r, n) -> (saliency, history): reused by Table 5

    def log(line: str) -> None:
        print(line, flush=True)
        out.append(line)

    def scores(x, sal, t) -> tuple[str, str]:
        if metrics is None:
            return "", ""
        kw = dict(n_steps=args.metric_steps, batch_size=20)
        return (f"{metrics.deletion(model, x, sal, t, **kw).mean():.4f}",
                f"{metrics.insertion(model, x, sal, t, **kw).mean():.4f}")

    def flush() -> None:                        # keep what is done even if the run is stopped
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(out) + "\n")

    if "speed" not in skip:
        out += ["## Seconds per image, final objective, deletion / insertion\n",
                f"`s / image`: wall clock; `CPU s / image`: CPU time of this process ({torch.get_num_threads()} "
                "torch thread(s)); with one thread it is close to the run time of an idle core whatever the "
                "load. `trials` = line-search forward passes per image per iteration; `floor` = share of "
                "I-GOS iterations where no trial passed (8) and the step fell to a_l = 1e-5.\n"]
        log("| method | r | images | s / image | CPU s / image | final objective F | deletion | insertion | trials "
            "| floor |")
        log("|---|---|---|---|---|---|---|---|---|---|")
        for r in (int(v) for v in args.resolutions.split(",")):
            for method in ("i_gos", "mask"):
                for n in sorted({1, len(images)}):
                    x, t = images[:n], target[:n]
                    if method == "i_gos":
                        fn = lambda: igos.i_gos(model, x, t, resolution=r, n_iter=n_iter_igos,  # noqa: E731
                                                batch_size=bs, return_history=True)
                    else:
                        fn = lambda: igos.mask(model, x, t, resolution=r, n_iter=n_iter_mask,  # noqa: E731
                                               batch_size=args.mask_batch_size, return_history=True)
                    (sal, hist), seconds, cpu = timed(fn, device)
                    runs[method, r, n] = (sal, hist)
                    dele, ins = scores(x, sal, t) if n > 1 else ("", "")
                    trials = floor = "-"
                    if method == "i_gos":
                        trials = f"{hist['n_trials'].float().sum().item() / (n * n_iter_igos):.1f}"
                        floor = f"{(hist['step'] <= 1.0001e-5).float().mean():.2f}"
                    log(f"| {method} | {r} | {n} | {seconds / n:.1f} | {cpu / n:.1f} | {hist['objective'][-1].mean():.4f} "
                        f"| {dele} | {ins} | {trials} | {floor} |")
                    flush()
        out.append("")

    if "table5" not in skip:
        n = len(images)
        out += [f"## Table 5 at 28 x 28: the same objective (TV exponent 2), the same lambdas, {n} images\n",
                f"Final noiseless objective F, mean over the {n} images (lower is better), with deletion / "
                "insertion of the resulting masks. Mask runs here with TV exponent 2 so that both methods "
                "minimise exactly the same F. The paper reports lower F for I-GOS at every setting.\n"]
        log("| lambda1, lambda2 | I-GOS F | Mask F | I-GOS del / ins | Mask del / ins | I-GOS lower on |")
        log("|---|---|---|---|---|---|")
        for lam1, lam2 in ((1.0, 20.0), (0.01, 0.2)):
            if (lam1, lam2) == default_lambdas(28) and ("i_gos", 28, n) in runs:
                s_i, h_i = runs["i_gos", 28, n]
            else:
                s_i, h_i = igos.i_gos(model, images, target, resolution=28, lambda1=lam1, lambda2=lam2,
                                      n_iter=n_iter_igos, batch_size=bs, return_history=True)
            s_m, h_m = igos.mask(model, images, target, resolution=28, lambda1=lam1, lambda2=lam2, tv_beta=2,
                                 n_iter=n_iter_mask, batch_size=args.mask_batch_size, return_history=True)
            f_i, f_m = h_i["objective"][-1], h_m["objective"][-1]
            log(f"| {lam1:g}, {lam2:g} | {f_i.mean():.4f} | {f_m.mean():.4f} | {' / '.join(scores(images, s_i, target))} "
                f"| {' / '.join(scores(images, s_m, target))} | {int((f_i < f_m).sum())} / {n} images |")
            flush()
        out.append("")

    if "chunks" not in skip:
        out += [f"## Model inputs per forward pass (`batch_size`), I-GOS, {len(images)} images, r = 28, "
                "2 iterations\n"]
        log("| batch_size | s / image / iteration | CPU s / image / iteration |")
        log("|---|---|---|")
        for chunk in (2, 5, 10, 20):
            _, seconds, cpu = timed(lambda: igos.i_gos(model, images, target, resolution=28, n_iter=2,  # noqa: E731
                                                       batch_size=chunk), device)
            log(f"| {chunk} | {seconds / (len(images) * 2):.2f} | {cpu / (len(images) * 2):.2f} |")
            flush()
        out.append("")

    flush()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
