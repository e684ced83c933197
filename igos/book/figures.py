"""The I-GOS paper's figures: run each method once, then draw many figures from the maps.

The figure chapters (``book/46_figures_heatmaps.ipynb``, ``book/47_failure_and_adversarial.ipynb``)
compute the heatmaps of a few photos with several methods and resolutions, and every figure
(heatmaps with their deletion and insertion curves, deletion and insertion images at chosen
ratios, failure cases, adversarial examples) is drawn from that one computation:

* :func:`figure_methods` names the method variants (``"I-GOS 28"``, ``"Mask 224"``, ``"RISE"``...);
* :func:`side_by_side` runs them and their deletion / insertion curves -> :class:`Comparison`;
* :func:`ratio_panels` builds the deletion / insertion images at given ratios with the class
  probability (Figures 6, 7 and 12-15), drawn by :func:`igos.plotting.panels`;
* :func:`lowest` searches result rows (the experiment runner's, or :meth:`Comparison.rows`)
  for the lowest insertion (the failure case of Figure 7);
* :func:`border_share`, :func:`peak_on_border`, :func:`box_share` and :func:`correlation`
  measure what Figures 10-11 show by eye (Grad-CAM on the border, Mask off the object,
  RISE's sampling noise);
* :func:`attack` makes MI-FGSM adversarial examples and records the predictions before and
  after (Figures 8-9).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import metrics as M
from ..attacks import mi_fgsm
from ..targets import as_target, num_classes_of

__all__ = ["Attack", "Comparison", "attack", "attack_table", "border_share", "box_share", "concat",
           "confidence_table", "correlation", "figure_methods", "label_targets", "lowest", "map_stats",
           "merge", "most_confident", "peak_on_border", "probabilities", "ranking", "ratio_panels",
           "ratio_table", "reach", "shared_rows", "side_by_side", "variant_rows"]


def figure_methods(resolutions: Iterable[int] = (224, 28, 7), *, i_gos: Mapping | None = None,
                   mask: Mapping | None = None, rise: Mapping | None = None, ig: Mapping | None = None,
                   no_noise: Iterable[int] = ()) -> dict[str, tuple[str, dict]]:
    """Method variants of the figures: label -> ``(registry name, options)``.

    ``IG`` (grey baseline, as in the paper's figures), ``Grad-CAM`` and ``Excitation BP`` (at
    the model's default layer), ``RISE``, and ``Mask r`` / ``I-GOS r`` for every ``r`` of
    ``resolutions``; ``I-GOS r no noise`` for every ``r`` of ``no_noise`` (Figure 6). The
    mappings ``i_gos``, ``mask``, ``rise`` and ``ig`` add options (e.g. ``n_iter``).
    """
    i_gos, mask, rise, ig = dict(i_gos or {}), dict(mask or {}), dict(rise or {}), dict(ig or {})
    specs = {"IG": ("integrated_gradients", {"baseline": "grey", **ig}),
             "Grad-CAM": ("grad_cam", {}),
             "Excitation BP": ("excitation_backprop", {}),
             "RISE": ("rise", rise)}
    for r in resolutions:
        specs[f"Mask {r}"] = ("meaningful_perturbation", {"resolution": int(r), **mask})
        specs[f"I-GOS {r}"] = ("i_gos", {"resolution": int(r), **i_gos})
    for r in no_noise:
        specs[f"I-GOS {r} no noise"] = ("i_gos", {"resolution": int(r), **i_gos, "noise": 0.0})
    return specs


@torch.no_grad()
def probabilities(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities ``[N, classes]`` of the unperturbed images."""
    return model(images).softmax(dim=1)


def most_confident(model: nn.Module, data, n: int | None = None):
    """The ``n`` images of an :class:`igos.ImageSet` with the highest probability of their label, best first.

    An image without a known label (``-1``) counts with the probability of its top-1 class.
    Returns ``(subset ImageSet, probabilities [n])``.
    """
    probs = probabilities(model, data.images)
    labels = data.labels.to(probs.device)
    p = torch.where(labels >= 0, probs.gather(1, labels.clamp_min(0)[:, None])[:, 0], probs.max(1).values)
    order = torch.sort(p.cpu(), descending=True, stable=True).indices[:n]
    return data[order.tolist()], p.cpu()[order]


def label_targets(model: nn.Module, data) -> torch.Tensor:
    """The classes to explain for an :class:`igos.ImageSet`: its labels, the top-1 class where unknown (``-1``)."""
    labels = data.labels.to(data.images.device)
    return torch.where(labels >= 0, labels, as_target(None, data.images, model))


@dataclass
class Comparison:
    """Maps of several methods on the same images, with their deletion and insertion curves.

    Attributes:
        images: ``[N, 3, H, W]``.
        target: ``LongTensor[N]``, the explained classes.
        names: ``N`` image names.
        maps: label -> ``[N, h, w]``.
        deletion, insertion: label -> :class:`igos.metrics.Curve`.
        seconds: label -> seconds of the method call (all ``N`` images together).
        specs: label -> ``(registry name, options)``.
        p_target: ``[N]``, the probability of the target on the unperturbed images.
    """

    images: torch.Tensor
    target: torch.Tensor
    names: list
    maps: dict = field(default_factory=dict)
    deletion: dict = field(default_factory=dict)
    insertion: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    specs: dict = field(default_factory=dict)
    p_target: torch.Tensor | None = None

    def select(self, labels: Sequence[str] | None = None, images: Sequence[int] | None = None, *,
               strict: bool = True) -> "Comparison":
        """The same comparison restricted to some methods (in that order) and / or images.

        With ``strict=False`` labels that were not computed are left out instead of raising.
        """
        labels = list(self.maps) if labels is None else list(labels)
        missing = [k for k in labels if k not in self.maps]
        if not strict:
            labels = [k for k in labels if k in self.maps]
        elif missing:
            raise KeyError(f"no map for {missing}; computed: {list(self.maps)}")
        idx = list(range(len(self.names))) if images is None else [int(i) for i in images]
        ix = torch.tensor(idx, dtype=torch.long)

        def rows(curve):
            return M.Curve(curve.fractions, curve.probs[ix.to(curve.probs.device)])

        return replace(self, images=self.images[ix.to(self.images.device)], target=self.target[ix.to(self.target.device)],
                       names=[self.names[i] for i in idx],
                       maps={k: self.maps[k][ix.to(self.maps[k].device)] for k in labels},
                       deletion={k: rows(self.deletion[k]) for k in labels if k in self.deletion},
                       insertion={k: rows(self.insertion[k]) for k in labels if k in self.insertion},
                       seconds={k: self.seconds[k] for k in labels if k in self.seconds},
                       specs={k: self.specs[k] for k in labels if k in self.specs},
                       p_target=None if self.p_target is None else self.p_target[ix.to(self.p_target.device)])

    def auc(self, label: str, metric: str = "insertion") -> torch.Tensor:
        """The deletion or insertion AUC ``[N]`` of one method."""
        curves = {"deletion": self.deletion, "insertion": self.insertion}[metric]
        return M.auc(*curves[label]).cpu()

    def rows(self) -> list[dict]:
        """One dict per (image, method), in the experiment runner's row schema (the fields used here).

        Keys: ``image_index``, ``image``, ``method`` (the label), ``method_name``, ``resolution``
        (``None`` for a method without one), ``map_size``, ``target``, ``p_target``, ``deletion``,
        ``insertion``, ``seconds`` (per image).
        """
        out = []
        for label, sal in self.maps.items():
            name, options = self.specs.get(label, (label, {}))
            dele = self.auc(label, "deletion") if label in self.deletion else None
            ins = self.auc(label, "insertion") if label in self.insertion else None
            for i, image in enumerate(self.names):
                out.append({"image_index": i, "image": image, "method": label, "method_name": name,
                            "resolution": options.get("resolution"), "map_size": list(sal.shape[-2:]),
                            "target": int(self.target[i]),
                            "p_target": None if self.p_target is None else float(self.p_target[i]),
                            "deletion": None if dele is None else float(dele[i]),
                            "insertion": None if ins is None else float(ins[i]),
                            "seconds": self.seconds.get(label, float("nan")) / len(self.names)})
        return out

    def table(self):
        """The AUCs as a pandas DataFrame: one row per (image, method)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows())
        return frame[["image", "method", "map_size", "deletion", "insertion", "seconds"]]

    def plot(self, labels: Sequence[str] | None = None, images: Sequence[int] | None = None, *,
             class_names: Sequence[str] | None = None, size: float = 2.0, strict: bool = True):
        """:func:`igos.plotting.comparison` of some methods and images, photos captioned with the target.

        ``strict=False`` skips labels that were not computed (e.g. a resolution left out).
        """
        from .. import plotting

        sub = self.select(labels, images, strict=strict)
        return plotting.comparison(sub.images.cpu(), sub.maps, sub.deletion, sub.insertion,
                                   titles=sub.captions(class_names), size=size)

    def captions(self, class_names: Sequence[str] | None = None) -> list[str]:
        """``"name\\nclass p=0.93"`` for each image."""
        out = []
        for i, name in enumerate(self.names):
            c = int(self.target[i])
            cls = class_names[c] if class_names is not None else f"class {c}"
            p = "" if self.p_target is None else f" p={float(self.p_target[i]):.2f}"
            out.append(f"{name}\n{cls[:24]}{p}")
        return out


def side_by_side(model: nn.Module, images: torch.Tensor, target=None, methods: Mapping[str, tuple] | None = None, *,
            names: Sequence[str] | None = None, n_steps: int = 50, baseline="blur",
            batch_size: int | None = None) -> Comparison:
    """Run every method of ``methods`` (label -> ``(name, options)``) and its deletion / insertion curves.

    Args:
        model, images, target: as for any method (``target=None``: the top-1 class).
        methods: e.g. :func:`figure_methods`; each is called once on all images together.
        names: image names (default ``"0", "1", ...``).
        n_steps, baseline, batch_size: of :func:`igos.deletion_curve` / :func:`igos.insertion_curve`.

    Returns:
        :class:`Comparison`.
    """
    from ..methods import get

    target = as_target(target, images, model, num_classes_of(model, images))
    names = [str(i) for i in range(images.shape[0])] if names is None else list(names)
    p = probabilities(model, images).gather(1, target[:, None])[:, 0].cpu()
    comp = Comparison(images=images, target=target, names=names, p_target=p)
    for label, (name, options) in (methods or {}).items():
        t0 = time.perf_counter()
        sal = get(name)(model, images, target, **options)
        comp.seconds[label] = time.perf_counter() - t0
        comp.maps[label] = sal.detach()
        comp.specs[label] = (name, dict(options))
        opts = dict(baseline=baseline, n_steps=n_steps, batch_size=batch_size)
        comp.deletion[label] = M.deletion_curve(model, images, sal, target, **opts)
        comp.insertion[label] = M.insertion_curve(model, images, sal, target, **opts)
    return comp


def concat(comparisons: Sequence[Comparison]) -> Comparison:
    """Stack comparisons of the same methods along the images (e.g. original and adversarial photos).

    Each must have the same labels and curve fractions.
    """
    first = comparisons[0]
    labels = list(first.maps)
    for c in comparisons[1:]:
        if list(c.maps) != labels:
            raise ValueError(f"comparisons have different methods: {labels} vs {list(c.maps)}")

    def cat(attr):
        return {k: M.Curve(getattr(first, attr)[k].fractions,
                           torch.cat([getattr(c, attr)[k].probs for c in comparisons]))
                for k in getattr(first, attr)}

    return Comparison(images=torch.cat([c.images for c in comparisons]),
                      target=torch.cat([c.target for c in comparisons]),
                      names=[n for c in comparisons for n in c.names],
                      maps={k: torch.cat([c.maps[k] for c in comparisons]) for k in labels},
                      deletion=cat("deletion"), insertion=cat("insertion"),
                      seconds={k: sum(c.seconds.get(k, 0.0) for c in comparisons) for k in labels},
                      specs=dict(first.specs),
                      p_target=None if any(c.p_target is None for c in comparisons)
                      else torch.cat([c.p_target for c in comparisons]))


def merge(comparisons: Sequence[Comparison]) -> Comparison:
    """Join the methods of comparisons of the same images (e.g. a method run later on the same photos).

    The images must be the same (checked by name); a label computed twice keeps its first map.
    """
    first = comparisons[0]
    for c in comparisons[1:]:
        if c.names != first.names:
            raise ValueError(f"comparisons of different images: {first.names} vs {c.names}")
    out = replace(first, maps={}, deletion={}, insertion={}, seconds={}, specs={})
    for c in comparisons:
        for attr in ("maps", "deletion", "insertion", "seconds", "specs"):
            for k, v in getattr(c, attr).items():
                getattr(out, attr).setdefault(k, v)
    return out


PAPER_RATIO_FIGURES = {"vgg19": (12, 13), "resnet50": (14, 15)}
"""The paper's numbers of its deletion and insertion figures per model (Figures 12-15)."""


def ratio_panels(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target=None, *,
                 deletion: Sequence[float] = (), insertion: Sequence[float] = (), original: bool = True,
                 class_names: Sequence[str] | None = None, baseline="blur") -> list[list[tuple]]:
    """Deletion and insertion images at chosen ratios, captioned with the target's probability.

    One row per image: the photo (when ``original``), then the deletion image at each ratio of
    ``deletion`` and the insertion image at each ratio of ``insertion``
    (:func:`igos.metrics.perturbed_at`: the top ``ratio`` of the map's cells removed or revealed
    on the blurred photo). Captions read ``"deletion 5%\\np=0.01"``; the ratio is the share of
    cells actually changed, ``floor(ratio h w) / (h w)``. Draw with :func:`igos.plotting.panels`.
    """
    target = as_target(target, images, model, num_classes_of(model, images))
    p0 = probabilities(model, images).gather(1, target[:, None])[:, 0]
    rows = [[] for _ in range(images.shape[0])]
    if original:
        for i, row in enumerate(rows):
            c = int(target[i])
            cls = class_names[c][:20] if class_names is not None else f"class {c}"
            row.append((images[i].cpu(), f"{cls}\np={float(p0[i]):.2f}"))
    for kind, ratios in (("deletion", deletion), ("insertion", insertion)):
        for ratio in ratios:
            out = M.perturbed_at(model, images, saliency, ratio, target, insertion=kind == "insertion",
                                 baseline=baseline)
            for i, row in enumerate(rows):
                row.append((out.images[i].cpu(), f"{kind} {100 * out.fraction:.3g}%\np={float(out.probs[i]):.2f}"))
    return rows


def ratio_table(model: nn.Module, images: torch.Tensor, saliency: torch.Tensor, target=None, *,
                ratios: Sequence[float] = (0.05, 0.1, 0.2), names: Sequence[str] | None = None, baseline="blur"):
    """The class probability after deleting / inserting each ratio of a map's cells: a DataFrame.

    One row per image with columns ``p`` (the unperturbed photo), ``deletion <ratio>`` and
    ``insertion <ratio>`` (:func:`igos.metrics.perturbed_at`), indexed by image name.
    """
    import pandas as pd

    target = as_target(target, images, model, num_classes_of(model, images))
    names = [str(i) for i in range(images.shape[0])] if names is None else list(names)
    cols = {"p": probabilities(model, images).gather(1, target[:, None])[:, 0].cpu()}
    for kind in ("deletion", "insertion"):
        for r in ratios:
            out = M.perturbed_at(model, images, saliency, r, target, insertion=kind == "insertion", baseline=baseline)
            cols[f"{kind} {r:g}"] = out.probs.cpu()
    return pd.DataFrame({k: v.tolist() for k, v in cols.items()}, index=pd.Index(names, name="image"))


def variant_rows(model: nn.Module, images: torch.Tensor, maps: Mapping[str, torch.Tensor], target=None, *,
                 names: Sequence[str] | None = None, **ratios) -> tuple[list, list]:
    """:func:`ratio_panels` of several maps of the same images, one row per (image, map), grouped by image.

    ``maps``: label -> ``[N, h, w]`` (e.g. I-GOS with and without noise, Figure 6); ``ratios``:
    the ``deletion`` / ``insertion`` ratios. Returns ``(rows, row_labels)`` for
    :func:`igos.plotting.panels`; the labels read ``"<image>: <map label>"``.
    """
    per_map = {label: ratio_panels(model, images, sal, target, original=False, **ratios) for label, sal in maps.items()}
    names = [str(i) for i in range(images.shape[0])] if names is None else list(names)
    rows, labels = [], []
    for i, name in enumerate(names):
        for label, panel in per_map.items():
            rows.append(panel[i])
            labels.append(f"{name}: {label}")
    return rows, labels


def ranking(comparison: Comparison, groups: Mapping[str, Sequence[str]]):
    """Per group of competing methods (e.g. those at one resolution) and image: who has the best AUCs.

    Returns a DataFrame with one row per (group, image): the method with the lowest deletion,
    the one with the highest insertion, and the AUCs of every method of the group. Methods
    that were not computed are left out of their group.
    """
    import pandas as pd

    out = []
    for group, labels in groups.items():
        labels = [k for k in labels if k in comparison.maps]
        if not labels:
            continue
        dele = {k: comparison.auc(k, "deletion") for k in labels}
        ins = {k: comparison.auc(k, "insertion") for k in labels}
        for i, image in enumerate(comparison.names):
            row = {"group": group, "image": image,
                   "lowest deletion": min(labels, key=lambda k: float(dele[k][i])),
                   "highest insertion": max(labels, key=lambda k: float(ins[k][i]))}
            row.update({f"{k} del": float(dele[k][i]) for k in labels})
            row.update({f"{k} ins": float(ins[k][i]) for k in labels})
            out.append(row)
    return pd.DataFrame(out)


def map_stats(comparison: Comparison, boxes: torch.Tensor | None = None, *, top: float = 0.1):
    """What Figures 10-11 show by eye, measured for every map: a DataFrame per (image, method).

    Columns: ``map`` (its size), ``top in box`` (:func:`box_share` of the ``top`` share of pixels;
    NaN without boxes), ``box area`` (the chance level of that share), ``border share``
    (:func:`border_share`) and ``border area`` (its chance level), ``peak on border``
    (:func:`peak_on_border`).
    """
    import pandas as pd

    size = comparison.images.shape[-1]
    rows = []
    for label, sal in comparison.maps.items():
        inside = box_share(sal, boxes, top=top, image_size=size) if boxes is not None else None
        border, peak = border_share(sal), peak_on_border(sal)
        h, w = sal.shape[-2:]
        for i, image in enumerate(comparison.names):
            area = float("nan")
            if boxes is not None:
                x0, y0, x1, y1 = [float(v) for v in boxes[i]]
                area = max(0.0, x1 - x0) * max(0.0, y1 - y0) / size ** 2
            rows.append({"image": image, "method": label, "map": f"{h}x{w}",
                         "top in box": float("nan") if inside is None else float(inside[i]), "box area": area,
                         "border share": float(border[i]), "border area": 1 - (h - 2) * (w - 2) / (h * w),
                         "peak on border": bool(peak[i])})
    return pd.DataFrame(rows)


def lowest(rows: Iterable[Mapping], metric: str = "insertion", **match) -> dict:
    """The row with the lowest ``metric`` among those whose fields equal ``match`` (e.g. ``method="i_gos"``).

    Rows whose ``metric`` is missing or ``None`` (a NaN result) are skipped.

    Raises:
        ValueError: no row matches.
    """
    found = [r for r in rows if r.get(metric) is not None and all(r.get(k) == v for k, v in match.items())]
    if not found:
        raise ValueError(f"no row with a {metric!r} value matches {match}")
    return dict(min(found, key=lambda r: r[metric]))


def reach(curve: M.Curve, level: float = 0.5) -> torch.Tensor:
    """The first fraction of an insertion curve at which ``p >= level * p(full image)`` -> ``[N]``.

    ``p(full image)`` is the curve's last point. "How much of the image must be inserted for
    the model to recover ``level`` of its confidence" (the paper's reading of Figures 8-9).
    """
    probs = curve.probs.detach().cpu().double()
    ok = probs >= level * probs[:, -1:]
    first = torch.where(ok, torch.arange(probs.shape[1]), probs.shape[1] - 1).min(dim=1).values
    return curve.fractions.detach().cpu().double()[first]


def confidence_table(model: nn.Module, data, rows: Iterable[Mapping], *, method: str = "i_gos",
                     resolution=None, class_names: Sequence[str] | None = None):
    """Per image of ``data``: its label, ``p(label)``, top-1 and the AUCs of ``method`` from result ``rows``.

    ``rows`` are the experiment runner's rows (or :meth:`Comparison.rows`), matched by
    ``image`` name, ``method`` label and ``resolution`` (``None``: the rows' own, when each
    image has one). Images without such a row get NaN AUCs. Returns a DataFrame indexed by
    image: ``label``, ``p(label)``, ``top-1``, ``p(top-1)``, ``correct``, ``deletion``,
    ``insertion``.
    """
    import pandas as pd

    probs = probabilities(model, data.images).cpu()
    found = {}
    for r in rows:
        if r.get("method") == method and (resolution is None or r.get("resolution") == resolution):
            found.setdefault(r["image"], r)
    out = []
    for i, name in enumerate(data.names):
        c, top = int(data.labels[i]), int(probs[i].argmax())
        row = found.get(name, {})
        out.append({"image": name, "label": class_names[c] if class_names is not None and c >= 0 else c,
                    "p(label)": float(probs[i, c]) if c >= 0 else float("nan"),
                    "top-1": class_names[top] if class_names is not None else top, "p(top-1)": float(probs[i, top]),
                    "correct": c == top,
                    "deletion": float("nan") if row.get("deletion") is None else row["deletion"],
                    "insertion": float("nan") if row.get("insertion") is None else row["insertion"]})
    return pd.DataFrame(out).set_index("image")


def shared_rows(config: Mapping, method: str = "i_gos") -> list[dict] | None:
    """The rows of ``method`` in the results file of an experiment ``config``, if that file is complete.

    Returns ``None`` when the file (``config["results"]``) does not exist, the config has no
    method labelled ``method``, or some of its rows are missing (an experiment still running,
    or interrupted): a search over part of the photos would depend on how far it got.
    """
    from pathlib import Path

    from ..experiment import normalize_config, plan, read_results, row_key

    path = Path(config["results"])
    spec = next((m for m in config["methods"] if m.get("label", m["name"]) == method), None)
    if spec is None or not path.is_file():
        return None
    rows = [r for r in read_results(path) if r.get("method") == method]
    n = config.get("n_images")
    if n is None:   # the image count is that of the folder: complete when every image with a row has them all
        n = 1 + max((r["image_index"] for r in rows), default=-1)
    wanted = {row_key(*t) for t in plan(normalize_config(dict(config)), n) if t[1] == method}
    if not wanted or not wanted <= {r["key"] for r in rows}:    # planned rows, subsets included
        return None
    return rows


def _ring(saliency: torch.Tensor, width: int) -> torch.Tensor:
    h, w = saliency.shape[-2:]
    ring = torch.ones(h, w, dtype=torch.bool, device=saliency.device)
    ring[width:h - width, width:w - width] = False
    return ring


def border_share(saliency: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Share of each map's mass in its outer ring of ``width`` cells -> ``[N]``.

    The map is shifted to a minimum of 0 first. The ring covers
    ``1 - (h - 2 width)(w - 2 width) / (h w)`` of the cells (24 / 49 of a 7 x 7 map), so a
    map spread evenly has that share.
    """
    s = saliency.detach().float()
    s = s - s.flatten(1).min(1).values.view(-1, 1, 1)
    ring = _ring(s, width)
    return (s * ring).flatten(1).sum(1).cpu() / s.flatten(1).sum(1).clamp_min(1e-12).cpu()


def peak_on_border(saliency: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Whether each map's largest cell lies in its outer ring of ``width`` cells -> ``BoolTensor[N]``."""
    flat = saliency.detach().flatten(1)
    peak = flat.argmax(1)
    return _ring(saliency, width).flatten()[peak].cpu()


def box_share(saliency: torch.Tensor, boxes: torch.Tensor, *, top: float = 0.1, image_size: int = 224) -> torch.Tensor:
    """Share of the ``top`` most salient pixels (map upsampled to the image) inside the object box -> ``[N]``.

    ``boxes`` ``[N, 4]`` are ``x0, y0, x1, y1`` in pixels (pixel centres inside count); NaN
    boxes give NaN. The box's own area share is the chance level.
    """
    up = F.interpolate(saliency.detach().float()[:, None], size=(image_size, image_size), mode="bilinear",
                       align_corners=False)[:, 0].flatten(1)
    k = max(1, int(round(top * up.shape[1])))
    idx = up.topk(k, dim=1).indices.cpu()
    ys, xs = (idx // image_size).double() + 0.5, (idx % image_size).double() + 0.5
    b = torch.as_tensor(boxes, dtype=torch.float64).cpu()
    inside = (xs >= b[:, :1]) & (xs <= b[:, 2:3]) & (ys >= b[:, 1:2]) & (ys <= b[:, 3:4])
    share = inside.double().mean(1)
    return torch.where(torch.isnan(b).any(1), torch.full_like(share, float("nan")), share)


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of two sets of maps ``[N, h, w]`` (b resized to a's grid if needed) -> ``[N]``."""
    a = a.detach().double()
    b = b.detach().double()
    if b.shape[-2:] != a.shape[-2:]:
        b = F.interpolate(b[:, None], size=a.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)).cpu()


class Attack(NamedTuple):
    """MI-FGSM adversarial examples and the predictions before and after (:func:`attack`).

    ``images`` ``[N, 3, H, W]`` are the adversarial images; ``before`` / ``after`` the top-1
    classes ``[N]`` of the original / adversarial images and ``p_before`` / ``p_after`` their
    probabilities; ``p_label_after`` is the probability of the attacked class after the attack.
    """

    images: torch.Tensor
    before: torch.Tensor
    p_before: torch.Tensor
    after: torch.Tensor
    p_after: torch.Tensor
    p_label_after: torch.Tensor


def attack(model: nn.Module, images: torch.Tensor, target=None, *, eps: float = 16 / 255, n_iter: int = 10,
           mu: float = 1.0, batch_size: int | None = None) -> Attack:
    """Untargeted MI-FGSM (:func:`igos.attacks.mi_fgsm`) away from ``target`` (default: the prediction)."""
    target = as_target(target, images, model, num_classes_of(model, images))
    adv = mi_fgsm(model, images, target, eps=eps, n_iter=n_iter, mu=mu, batch_size=batch_size)
    p0, p1 = probabilities(model, images), probabilities(model, adv)
    b, a = p0.max(1), p1.max(1)
    return Attack(adv, b.indices, b.values, a.indices, a.values, p1.gather(1, target[:, None])[:, 0])


def attack_table(result: Attack, images: torch.Tensor, target, *, names: Sequence[str] | None = None,
                 class_names: Sequence[str] | None = None):
    """:func:`attack`'s outcome as a DataFrame: classes and probabilities before and after, and the
    largest pixel change in 1/255 units, one row per image."""
    import pandas as pd

    target = torch.as_tensor(target).reshape(-1).cpu()
    names = [str(i) for i in range(images.shape[0])] if names is None else list(names)
    cls = (lambda c: class_names[int(c)]) if class_names is not None else int
    delta = (result.images - images).abs().flatten(1).max(1).values.cpu() * 255
    return pd.DataFrame({"attacked class": [cls(c) for c in target], "top-1 before": [cls(c) for c in result.before.cpu()],
                         "p before": result.p_before.cpu().tolist(),
                         "top-1 after": [cls(c) for c in result.after.cpu()], "p after": result.p_after.cpu().tolist(),
                         "p(attacked class) after": result.p_label_after.cpu().tolist(),
                         "fooled": (result.after.cpu() != target).tolist(), "max |change| x 255": delta.tolist()},
                        index=pd.Index(names, name="image"))
