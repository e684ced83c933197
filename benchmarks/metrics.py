"""Benchmark: batched deletion/insertion against a one-image, one-step-at-a-time reference.

8 images at 224 x 224 (the 7 embedded photos plus the first one mirrored), the embedded
EfficientNet-Lite0, and saliency maps at 28 x 28 (the input gradient, average-pooled).
Each metric uses ``N_STEPS`` steps (``N_STEPS + 1`` points). The reference builds each
keep-mask with numpy and runs one forward pass per image per step. ``igos.deletion_curve``
and ``igos.insertion_curve`` send every perturbed image through the model in chunks of
``BATCH_SIZE``. Both are warmed up once, and the timings are the best of ``REPEAT`` runs.
The script checks that the curves agree and writes ``benchmarks/results/metrics.md``.

Run: ``python benchmarks/metrics.py`` (about 10 minutes on 2 CPU cores; ``--steps`` and
``--repeat`` change the sizes).
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import igos
from igos.testing import reference_curve     # one image, one step, one forward pass at a time


def best_of(fn, repeat):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="n_steps of each metric")
    parser.add_argument("--batch-size", type=int, default=64, help="perturbed images per forward pass")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of each implementation (best is kept)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "metrics.md"))
    args = parser.parse_args()

    device = igos.resolve_device("auto")
    model = igos.load_model("efficientnet_lite0", device=device)
    data = igos.load_images("embedded")
    images = torch.cat([data.images, data.images[:1].flip(-1)]).to(device)          # 8 images
    target = igos.predict(model, images)
    saliency = F.avg_pool2d(igos.gradient(model, images, target)[:, None], 8)[:, 0]  # 28 x 28
    n = images.shape[0]

    def batched():
        d = igos.deletion_curve(model, images, saliency, target, n_steps=args.steps, batch_size=args.batch_size)
        i = igos.insertion_curve(model, images, saliency, target, n_steps=args.steps, batch_size=args.batch_size)
        return d.probs, i.probs

    def reference():
        return (reference_curve(model, images, saliency, target, insertion=False, baseline="blur", n_steps=args.steps),
                reference_curve(model, images, saliency, target, insertion=True, baseline="blur", n_steps=args.steps))

    # Warm-up: the first pass at each batch shape pays for oneDNN / cuDNN set-up.
    igos.deletion_curve(model, images[:2], saliency[:2], target[:2], n_steps=2, batch_size=args.batch_size)
    reference_curve(model, images[:1], saliency[:1], target[:1], insertion=False, baseline="blur", n_steps=2)

    t_batched, (bd, bi) = best_of(batched, args.repeat)
    t_ref, (rd, ri) = best_of(reference, args.repeat)
    diff = max((bd.cpu() - rd).abs().max().item(), (bi.cpu() - ri).abs().max().item())
    forwards = 2 * n * (args.steps + 1)
    speedup = t_ref / t_batched
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    text = f"""# Benchmark: batched deletion/insertion vs one image and one step at a time

Produced by `python benchmarks/metrics.py --steps {args.steps} --batch-size {args.batch_size} --repeat {args.repeat}`
on {datetime.date.today().isoformat()}.

- Device: {igos.device_name(device)}; {platform.processor() or platform.machine()}; torch {torch.__version__};
  load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other jobs shared the CPU, so absolute
  times are noisy).
- Work: {n} images at 224 x 224 (the 7 embedded photos and the first one mirrored), EfficientNet-Lite0,
  28 x 28 maps (average-pooled input gradient), deletion and insertion with n_steps = {args.steps}:
  {forwards} perturbed images in all.
- Batched: `igos.deletion_curve` + `igos.insertion_curve`, {args.batch_size} perturbed images per forward pass.
- Reference: one forward pass per image per step (batch of 1), masks built with numpy.
- Best of {args.repeat} timed run(s) each, after a warm-up.

| implementation | seconds | perturbed images / s |
|---|---|---|
| reference (1 image x 1 step per pass) | {t_ref:.1f} | {forwards / t_ref:.1f} |
| batched (`batch_size={args.batch_size}`) | {t_batched:.1f} | {forwards / t_batched:.1f} |

**Speed-up: {speedup:.1f}x** (target: at least 5x). Largest difference between the curves:
{diff:.2e} (probabilities; float32, different batch shapes).
"""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    if diff > 1e-4:
        raise SystemExit(f"batched and reference curves differ by {diff:.2e}")


if __name__ == "__main__":
    main()
