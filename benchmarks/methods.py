"""Time igos's attribution methods against their peer implementations on the embedded model.

    .venv/bin/python benchmarks/methods.py [--n-steps 50] [--device cpu]

EfficientNet-Lite0 (``igos.load_model("efficientnet_lite0")``) on the embedded photos
(``igos.load_images("embedded")``), each explained for its top-1 class. Every
implementation gets the same images, targets, layer, baseline and step count, one timed
run each after one untimed warm-up call on a single image. Peers: captum's
``IntegratedGradients`` (at several ``internal_batch_size`` values; the best is quoted) and
``LayerGradCam``; pytorch-grad-cam's ``GradCAM`` and ``GradCAMPlusPlus`` (whose timing
includes their own min-max scaling and resize to the input size, and, the parameters being
frozen, a backward pass down to the input that requires grad). Methods without a peer
are timed alone. The table goes to stdout and to ``benchmarks/results/methods.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# benchmarks/igos.py would shadow the package when this file runs as a script
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402

import igos  # noqa: E402
from igos.methods.integrated_gradients import completeness_gap  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "methods.md"


def timed(fn):
    """``(cpu seconds, wall seconds), result``. CPU time of this process is the figure compared:
    it is far less sensitive than wall time to other jobs sharing the CPU."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return (time.process_time() - cpu, time.perf_counter() - wall), out


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-steps", type=int, default=50, help="IG and RSI-Grad-CAM steps")
    parser.add_argument("--n-masks", type=int, default=500, help="RISE masks (timed alone)")
    parser.add_argument("--batch-sizes", default="10,25,50", help="internal batch sizes tried by every IG run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    from captum.attr import IntegratedGradients, LayerGradCam
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    device = igos.resolve_device(args.device)
    model = igos.load_model("efficientnet_lite0", device=device)
    images = igos.load_images("embedded").images.to(device)
    target = igos.predict(model, images)
    n = images.shape[0]
    layer = model.default_layer
    module = igos.get_layer(model, layer)
    steps = args.n_steps
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    rows = []   # (method, igos options, (cpu, wall), peer, (cpu, wall) or None, note)

    # warm-up: one small call per code path (allocator, oneDNN kernels)
    igos.integrated_gradients(model, images[:1], target[:1], n_steps=2)
    igos.grad_cam(model, images[:1], target[:1])

    # --- Integrated Gradients: same nodes (midpoint), black baseline, same chunk sizes. For each batch
    # size the three runs are interleaved and each is timed twice, keeping the faster: the first call
    # at a new batch shape pays oneDNN's kernel set-up, which would otherwise favour whoever runs later.
    ig = IntegratedGradients(model)
    zeros = torch.zeros_like(images)
    last = images.contiguous(memory_format=torch.channels_last)   # captum keeps its inputs' layout

    def best_of_two(fn):
        (t1, out), (t2, _) = timed(fn), timed(fn)
        return min(t1, t2, key=lambda t: t[0]), out

    ours_ig, peer_ig, last_ig = {}, {}, {}
    for bs in sizes:
        peer_ig[bs], ref = best_of_two(lambda: ig.attribute(images, baselines=zeros, target=target, n_steps=steps,
                                                             method="riemann_middle", internal_batch_size=bs))
        ours_ig[bs], attr = best_of_two(lambda: igos.integrated_gradients(model, images, target, n_steps=steps,
                                                                           batch_size=bs, per_channel=True))
        last_ig[bs], _ = best_of_two(lambda: ig.attribute(last, baselines=torch.zeros_like(last), target=target,
                                                          n_steps=steps, method="riemann_middle", internal_batch_size=bs))
        print(f"IG batch {bs}: igos {ours_ig[bs][0]:.1f} s CPU, captum {peer_ig[bs][0]:.1f}, captum channels-last "
              f"{last_ig[bs][0]:.1f}; max rel diff {rel_diff(attr, ref):.1e}", flush=True)
    best_ours = min(ours_ig, key=lambda k: ours_ig[k][0])
    best_peer = min(peer_ig, key=lambda k: peer_ig[k][0])
    best_last = min(last_ig, key=lambda k: last_ig[k][0])
    every = ", ".join(f"{bs}: {ours_ig[bs][0]:.1f} / {peer_ig[bs][0]:.1f} / {last_ig[bs][0]:.1f}" for bs in sizes)
    rows.append((f"integrated_gradients ({steps} midpoint steps)", f"batch_size={best_ours}", ours_ig[best_ours],
                 f"captum IntegratedGradients, internal_batch_size={best_peer}", peer_ig[best_peer],
                 f"CPU s igos / captum / captum channels-last per batch size: {every}; best of 2 runs each"))
    rows.append(("integrated_gradients (same)", f"batch_size={best_ours}", ours_ig[best_ours],
                 f"captum, internal_batch_size={best_last}, channels-last images", last_ig[best_last],
                 "igos lays interpolated images out channels-last on the CPU by itself"))
    gap = completeness_gap(model, images, attr, target)
    with torch.no_grad():
        change = (model(images) - model(zeros)).gather(1, target[:, None])[:, 0]

    # --- Grad-CAM and Grad-CAM++
    t_ours, ours = timed(lambda: igos.grad_cam(model, images, target, layer=layer))
    t_peer, ref = timed(lambda: LayerGradCam(model, module).attribute(images, target=target, relu_attributions=True))
    rows.append(("grad_cam", "", t_ours, "captum LayerGradCam", t_peer, f"max rel diff {rel_diff(ours, ref[:, 0]):.1e}"))
    targets = [ClassifierOutputTarget(int(t)) for t in target]
    for name, fn, cls in [("grad_cam", igos.grad_cam, GradCAM),
                          ("grad_cam_plus_plus", igos.grad_cam_plus_plus, GradCAMPlusPlus)]:
        t_ours, ours = timed(lambda: fn(model, images, target, layer=layer))
        # the parameters are frozen, so pytorch-grad-cam needs images that require grad (its
        # backward then runs down to the input; igos stops at the layer)
        leaf = images.detach().clone().requires_grad_(True)
        with cls(model=model, target_layers=[module]) as cam:
            t_peer, _ = timed(lambda: cam(input_tensor=leaf, targets=targets))
        rows.append((name, "", t_ours, f"pytorch-grad-cam {cls.__name__}", t_peer,
                     "peer: backward to the input, plus its min-max scaling and resize"))

    # --- methods without a peer here
    for name, fn, opts in [
        ("grad_cam_plus", igos.grad_cam_plus, {"layer": layer}),
        ("rsi_grad_cam", igos.rsi_grad_cam, {"layer": layer, "n_steps": steps, "batch_size": sizes[-1]}),
        ("rise", igos.rise, {"n_masks": args.n_masks, "batch_size": 64}),
        ("excitation_backprop", igos.excitation_backprop, {"layer": layer}),
    ]:
        t_ours, _ = timed(lambda: fn(model, images, target, **opts))
        rows.append((name, ", ".join(f"{k}={v}" for k, v in opts.items() if k != "layer"), t_ours, "", None, ""))
        print(f"{name}: {t_ours[0]:.1f} s CPU", flush=True)

    header = [
        "# Method timings: igos vs peer implementations",
        "",
        f"EfficientNet-Lite0 on the {n} embedded photos (224 x 224), each for its top-1 class; CAM methods at "
        f"`{layer}`.",
        f"Device {igos.device_name(device)} ({platform.machine()}, {os.cpu_count()} cores), torch {torch.__version__}, "
        f"captum {_version('captum')}, grad-cam {_version('grad-cam')}, {torch.get_num_threads()} torch thread(s).",
        "IG: the faster of two timed runs per setting; the others: one timed run after a warm-up. Times are CPU seconds of the process (wall seconds in brackets);",
        f"1-minute load average {LOAD[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the end (this run's own "
        "threads count; well above the thread count means other jobs shared the CPU and inflated the wall times).",
        "",
        f"IG completeness gap (logit, {steps} midpoint steps, black baseline, batch size {sizes[-1]}): "
        "|sum(attr) - (F(x) - F(x'))| / |F(x) - F(x')| per photo = "
        + ", ".join(f"{abs(g) / abs(c):.3f}" for g, c in zip(gap.tolist(), change.tolist())) + ".",
        "",
        "| method | igos options | igos CPU s (wall) | peer | peer CPU s (wall) | igos / peer | note |",
        "| --- | --- | ---: | --- | ---: | ---: | --- |",
    ]
    lines = []
    for method, options, t, peer, tp, note in rows:
        peer_time = "-" if tp is None else f"{tp[0]:.2f} ({tp[1]:.1f})"
        ratio = "-" if tp is None else f"{t[0] / tp[0]:.2f}"
        lines.append(f"| {method} | {options} | {t[0]:.2f} ({t[1]:.1f}) | {peer or '-'} | {peer_time} | {ratio} | {note} |")
    text = "\n".join(header + lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(f"written to {RESULTS}")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


LOAD = os.getloadavg()

if __name__ == "__main__":
    main()
