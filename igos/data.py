"""Images: the embedded photos shipped in the package (``igos/assets/``), or a user's folder.

Every loader returns an :class:`ImageSet`: ``images`` ``[N, 3, S, S]`` float32 in
[0, 1] after the standard resize (shorter side 256) and centre crop (224), with the
names, ImageNet labels and object boxes (``[N, 4]`` as ``x0, y0, x1, y1`` in the
cropped frame, NaN where unknown).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
LABEL_FILES = ("labels.txt", "labels.csv", "labels.tsv")


@dataclass
class ImageSet:
    """A batch of images with their metadata.

    Attributes:
        images: ``[N, 3, S, S]`` float32 in [0, 1].
        names: ``N`` short names (file stems).
        labels: ``LongTensor[N]``: ImageNet class index, ``-1`` where unknown.
        boxes: ``[N, 4]`` float ``x0, y0, x1, y1`` in the pixels of ``images``; NaN where unknown.
        paths: the source files.
        info: per-image manifest entries (licence, attribution...) where known.
    """

    images: torch.Tensor
    names: list[str]
    labels: torch.Tensor
    boxes: torch.Tensor
    paths: list[str] = field(default_factory=list)
    info: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index) -> "ImageSet":
        """Select images by int, slice, list of ints or names."""
        if isinstance(index, (int, str)):
            index = [index]
        if isinstance(index, slice):
            index = list(range(len(self)))[index]
        index = [self.names.index(i) if isinstance(i, str) else int(i) for i in index]
        pick = lambda seq: [seq[i] for i in index] if seq else []  # noqa: E731
        return ImageSet(self.images[index], pick(self.names), self.labels[index], self.boxes[index],
                        pick(self.paths), pick(self.info))

    def to(self, device) -> "ImageSet":
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))


def data_dir() -> Path:
    """The folder of the embedded photos and their manifest ``embedded.json``: ``$IGOS_DATA``, else
    the package's own ``igos/assets`` (shipped in the wheel as package data)."""
    env = os.environ.get("IGOS_DATA")
    if env:
        if not (Path(env) / "embedded.json").is_file():
            raise FileNotFoundError(f"IGOS_DATA={env} has no embedded.json; unset it to use the photos shipped with igos")
        return Path(env)
    from importlib.resources import files

    root = Path(str(files("igos") / "assets"))
    if not (root / "embedded.json").is_file():
        raise FileNotFoundError(f"{root} has no embedded.json: this igos install lacks its package data; "
                                "reinstall it (pip install igos) or set IGOS_DATA")
    return root


# ----------------------------------------------------------------------------- decoding
def read_image(path) -> np.ndarray:
    """Read an image (a path or a binary file object) as float32 RGB ``[H, W, 3]`` in [0, 1].

    Grayscale is repeated to 3 channels, 16-bit images are scaled by 65535, palette
    images are expanded, and transparency is composited over white.
    """
    path = Path(path) if isinstance(path, (str, os.PathLike)) else path
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
                arr = np.asarray(img, dtype=np.float32) / 65535.0
            elif img.mode == "I":
                arr = np.asarray(img, dtype=np.float32)
                arr = arr / (65535.0 if arr.max() > 255 else 255.0)
            elif img.mode == "F":
                arr = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
            else:
                if img.mode == "P":
                    img = img.convert("RGBA")
                if img.mode in ("RGBA", "LA", "La", "RGBa"):
                    background = Image.new("RGBA", img.size, (255, 255, 255, 255))
                    img = Image.alpha_composite(background, img.convert("RGBA"))
                arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"{path} is not a readable image ({type(err).__name__}: {err})") from err
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def resize_crop(arr: np.ndarray, size: int = 224, resize: int = 256) -> tuple[torch.Tensor, tuple]:
    """Resize the shorter side to ``resize`` (bilinear, antialiased), centre-crop ``size``.

    Returns the ``[3, size, size]`` tensor and ``(scale, left, top)`` so that a point
    ``(x, y)`` of the original maps to ``(x * scale - left, y * scale - top)``.
    """
    import torchvision.transforms.functional as TF

    h, w = arr.shape[:2]
    scale = resize / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    x = torch.from_numpy(arr).permute(2, 0, 1)
    x = TF.resize(x, [new_h, new_w], antialias=True).clamp_(0, 1)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return x[:, top:top + size, left:left + size].contiguous(), (new_w / w, new_h / h, left, top)


def map_box(box, geometry, size: int) -> list[float]:
    sx, sy, left, top = geometry
    x0, y0, x1, y1 = box
    out = [x0 * sx - left, y0 * sy - top, x1 * sx - left, y1 * sy - top]
    return [float(min(max(v, 0.0), size)) for v in out]


def resize_whole(arr: np.ndarray, size: int = 224) -> tuple[torch.Tensor, tuple]:
    """Resize the whole image to ``size x size`` (bilinear, antialiased; the aspect ratio is not kept).

    For datasets whose objects may sit anywhere (the pointing game): a centre crop would cut some
    of them away. Returns the ``[3, size, size]`` tensor and ``(scale_x, scale_y, 0, 0)`` as
    :func:`resize_crop` does.
    """
    import torchvision.transforms.functional as TF

    h, w = arr.shape[:2]
    x = TF.resize(torch.from_numpy(arr).permute(2, 0, 1), [size, size], antialias=True).clamp_(0, 1)
    return x.contiguous(), (size / w, size / h, 0, 0)


# ----------------------------------------------------------------------------- loaders
def load_images(source: str | os.PathLike = "embedded", *, size: int = 224, resize: int = 256,
                n: int | None = None, seed: int | None = None, labels: dict | None = None) -> ImageSet:
    """Load images as ``[N, 3, size, size]`` in [0, 1] with names, labels and boxes.

    Args:
        source: ``"embedded"`` (the photos of ``igos/assets/embedded.json``),
            ``"imagenet-samples"`` (the 20 ImageNet validation photos with their labels that
            the ``foolbox`` package ships, read from the installed package), a folder, or
            one image file. A folder is read ImageNet-val style: class sub-folders
            (named by class index, ImageNet class name, or WNID when all 1000 are
            present), or flat image files plus ``labels.txt``/``labels.csv``
            (``filename label`` per line; label an index or a class name), or the flat
            ``ILSVRC2012_val_<n>.JPEG`` files with the ILSVRC2012 devkit's
            ``ILSVRC2012_validation_ground_truth.txt`` and ``meta.mat`` in the folder, in its
            ``ILSVRC2012_devkit_t12/data`` or in that folder beside it (needs scipy). Files
            with other suffixes are ignored; an image file that cannot be decoded
            raises an error naming it.
        size, resize: centre-crop side and shorter-side resize.
        n: keep ``n`` images: the first ``n`` in sorted order, or a random subset
            drawn with ``seed`` when ``seed`` is given.
        labels: optional ``{file name or stem: class index}``, overriding folders.

    Example:
        >>> data = load_images("embedded")
        >>> data.images.shape[1:], data.names[0]
        (torch.Size([3, 224, 224]), 'chelsea')
    """
    if split_pointing_source(source) is not None:
        raise ValueError(f"{source!r} has one entry per (image, object class) and several boxes per entry: run it "
                         "with the experiment runner (igos.experiment, reproduction.pointing_config), or read it "
                         "with igos.data.pointing_entries")
    entries = image_entries(source, n=n, seed=seed, labels=labels)
    tensors, boxes = [], []
    for e in entries:
        x, geometry = resize_crop(read_image(e["path"]), size, resize)
        tensors.append(x)
        boxes.append(map_box(e["box"], geometry, size) if e.get("box") else [float("nan")] * 4)
    return ImageSet(images=torch.stack(tensors), names=[e["name"] for e in entries],
                    labels=torch.tensor([e.get("label", -1) for e in entries], dtype=torch.long),
                    boxes=torch.tensor(boxes, dtype=torch.float32), paths=[str(e["path"]) for e in entries],
                    info=[e.get("info", {}) for e in entries])


def image_entries(source, *, n: int | None = None, seed: int | None = None, labels: dict | None = None) -> list[dict]:
    """The selected entries (``name``, ``path``, ``label``, ``box``, ``info``) of an image source, undecoded.

    ``source``, ``n``, ``seed`` and ``labels`` as in :func:`load_images`, which decodes these
    entries; the experiment runner reads them one at a time. With ``seed`` the ``n`` images are a
    seeded random sample of the whole source (in the source's order), else its first ``n``.
    """
    if split_pointing_source(source) is not None:
        return pointing_entries(source, n=n, seed=seed)
    if isinstance(source, str) and source == "embedded":
        entries = _embedded_entries()
    elif isinstance(source, str) and source == IMAGENET_SAMPLES:
        entries = _imagenet_sample_entries()
    else:
        entries = _folder_entries(Path(source), labels)
    return _select(entries, n, seed)


def _select(items: list, n: int | None, seed: int | None) -> list:
    """The first ``n`` items, or ``n`` drawn at random with ``seed`` (kept in their order); all when ``n`` is None."""
    if n is None:
        return items
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if seed is None:
        return items[:n]
    order = torch.randperm(len(items), generator=torch.Generator().manual_seed(seed)).tolist()
    return [items[i] for i in sorted(order[:n])]


#: ``load_images`` source name of the 20 ImageNet validation samples shipped by ``foolbox``.
IMAGENET_SAMPLES = "imagenet-samples"
#: The source names that are not paths.
BUILT_IN_SOURCES = ("embedded", IMAGENET_SAMPLES)


def _imagenet_sample_entries() -> list[dict]:
    """The 20 ImageNet validation photos of the ``foolbox`` wheel (MIT): ``foolbox/data/imagenet_<k>_<label>.jpg``.

    Read from the installed package (the ``book`` and ``test`` extras install it); nothing is
    copied into this repository. The file name carries the ImageNet class index.
    """
    import importlib.util

    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"load_images({IMAGENET_SAMPLES!r}) reads the ImageNet validation samples shipped "
                                  "by the 'foolbox' package: pip install foolbox (or the igos[book] / igos[test] extras)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    entries = []
    for path in sorted(folder.glob("imagenet_*_*.jpg")):
        match = re.fullmatch(r"imagenet_(\d+)_(\d+)\.jpg", path.name)
        if match is None:
            continue
        label = int(match.group(2))
        if not 0 <= label < 1000:
            raise ValueError(f"{path}: label {label} is not an ImageNet class index")
        entries.append({"name": f"imagenet_{match.group(1)}", "path": path, "label": label, "box": None,
                        "info": {"source": "foolbox (MIT): ImageNet validation sample", "file": path.name}})
    if len(entries) != 20:
        raise FileNotFoundError(f"expected the 20 ImageNet samples imagenet_<k>_<label>.jpg in {folder}, "
                                f"found {len(entries)}")
    return entries


def embedded_manifest() -> dict:
    """The manifest ``igos/assets/embedded.json`` (origin, licence, attribution, label, box per photo)."""
    return json.loads((data_dir() / "embedded.json").read_text())


def _embedded_entries() -> list[dict]:
    root = data_dir()
    entries = []
    for item in embedded_manifest()["images"]:
        path = root / item["file"]
        if not path.is_file():
            raise FileNotFoundError(f"embedded photo {item['name']!r} is missing: {path}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != item["sha256"]:
            raise ValueError(f"embedded photo {path} does not match its checksum in embedded.json")
        entries.append({"name": item["name"], "path": path, "label": item["label"], "box": item["box"],
                        "info": item})
    return entries


def class_index(label: str, where: str = "label") -> int:
    """The ImageNet class index of ``label``: an index as digits, a class name of
    :func:`igos.imagenet_classes` (case and ``_`` vs space ignored); ``where`` names the source in the error."""
    from .models import imagenet_classes

    label = label.strip()
    if re.fullmatch(r"\d+", label):
        return int(label)
    classes = imagenet_classes()
    if label in classes:
        return classes.index(label)
    lowered = [c.lower() for c in classes]
    if label.lower().replace("_", " ") in lowered:
        return lowered.index(label.lower().replace("_", " "))
    raise ValueError(f"{where}: label {label!r} is neither a class index nor an ImageNet class name")


def _folder_entries(root: Path, labels: dict | None) -> list[dict]:
    if not root.exists():
        raise FileNotFoundError(f"image source {str(root)!r} does not exist (use 'embedded' or a folder/file path)")
    if root.is_file():
        files, folder_labels = [root], {}
    else:
        subdirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        files = sorted(f for f in root.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        folder_labels = {}
        if subdirs:
            wnid = all(re.fullmatch(r"n\d{8}", d.name) for d in subdirs)
            if wnid and len(subdirs) != 1000 and labels is None:
                raise ValueError(f"{root}: class folders are WordNet ids but only {len(subdirs)} of the 1000 "
                                 f"ImageNet classes are present, so their indices are unknown; pass "
                                 f"labels={{file: index}} or name the folders by class index")
            for i, d in enumerate(subdirs):
                idx = i if wnid else class_index(d.name, str(d))
                for f in sorted(d.iterdir()):
                    if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                        files.append(f)
                        folder_labels[f] = idx
        devkit = _devkit_files(root)
        if devkit is not None:
            folder_labels.update(_read_devkit_labels(files, *devkit))
        label_file = next((root / name for name in LABEL_FILES if (root / name).is_file()), None)
        if label_file is not None:
            folder_labels.update(_read_label_file(label_file, root))
    if not files:
        raise ValueError(f"no images found in {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    entries = []
    for f in files:
        label = folder_labels.get(f, -1)
        if labels is not None:
            label = labels.get(f.name, labels.get(f.stem, label))
        entries.append({"name": f.stem, "path": f, "label": int(label)})
    return entries


#: The ILSVRC2012 devkit's validation labels and class table, looked up in a flat val folder, its
#: ``ILSVRC2012_devkit_t12/data`` subfolder, or that subfolder beside it.
DEVKIT_GROUND_TRUTH = "ILSVRC2012_validation_ground_truth.txt"


def _devkit_files(root: Path) -> tuple[Path, Path] | None:
    for folder in (root, root / "ILSVRC2012_devkit_t12" / "data", root.parent / "ILSVRC2012_devkit_t12" / "data"):
        truth, meta = folder / DEVKIT_GROUND_TRUTH, folder / "meta.mat"
        if truth.is_file():
            if not meta.is_file():
                raise FileNotFoundError(f"{truth} gives ILSVRC2012 ids, which need the devkit's meta.mat beside it "
                                        f"to become class indices; {meta} is missing")
            return truth, meta
    return None


def _read_devkit_labels(files: Sequence[Path], truth: Path, meta: Path) -> dict:
    """``{file: class index}`` for the ``ILSVRC2012_val_<n>`` files among ``files``, from the devkit.

    Line ``n`` of the ground truth is an ILSVRC2012 id; ``meta.mat`` maps ids to WordNet ids; the
    class index is the WordNet id's rank among the 1000 sorted ones (torchvision's order).
    """
    try:
        from scipy.io import loadmat
    except ImportError as err:   # pragma: no cover - scipy ships with the test extra
        raise ImportError(f"reading {meta} needs scipy: pip install scipy") from err
    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    leaves = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0}
    if len(leaves) != 1000:
        raise ValueError(f"{meta}: expected the 1000 leaf synsets of ILSVRC2012, found {len(leaves)}")
    index = {wnid: i for i, wnid in enumerate(sorted(leaves.values()))}
    ids = [int(v) for v in truth.read_text().split()]
    out = {}
    for f in files:
        match = re.fullmatch(r"ILSVRC2012_val_(\d{8})", f.stem)
        if match is None:
            continue
        n = int(match.group(1))
        if not 1 <= n <= len(ids) or ids[n - 1] not in leaves:
            raise ValueError(f"{truth}: no ILSVRC2012 class id for {f.name}")
        out[f] = index[leaves[ids[n - 1]]]
    return out


def _read_label_file(path: Path, root: Path) -> dict:
    out = {}
    with open(path, newline="") as fh:
        text = fh.read()
    delimiter = "," if path.suffix == ".csv" else ("\t" if path.suffix == ".tsv" else None)
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = next(csv.reader([line], delimiter=delimiter)) if delimiter else line.split(maxsplit=1)
        if len(parts) < 2:
            raise ValueError(f"{path}:{lineno}: expected 'filename label', got {line!r}")
        name, label = parts[0].strip(), parts[1].strip()
        if name.lower() in ("file", "filename", "image") and lineno == 1:
            continue  # header
        out[root / name] = class_index(label, f"{path}:{lineno}")
    return out


def class_names(indices: Sequence[int] | torch.Tensor) -> list[str]:
    """ImageNet names of class indices."""
    from .models import imagenet_classes

    classes = imagenet_classes()
    return [classes[int(i)] for i in (indices.tolist() if isinstance(indices, torch.Tensor) else indices)]


# ----------------------------------------------------------------------------- pointing-game datasets
#: The datasets of the paper's Table 6, as image sources ``"<name>:<root>"``: PASCAL VOC 2007 test
#: (``root`` holds ``VOCdevkit/VOC2007`` or is that folder) and MSCOCO val2014 (``root`` holds
#: ``annotations/instances_val2014.json`` and ``val2014/``). Nothing is downloaded.
POINTING_DATASETS = ("voc07", "coco")

#: PASCAL VOC's 20 classes, in the order of the VOC devkit.
VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")

#: VOC class -> the ImageNet-1k classes that show it, for ImageNet classifiers: an object's target
#: is the most probable of them (:func:`igos.targets.object_target`). ImageNet has no "person"
#: class; its three classes of people (ballplayer, groom, scuba diver) stand in for it.
IMAGENET_FOR_VOC = {
    "aeroplane": [404, 895], "bicycle": [444, 671], "bird": [*range(7, 25), *range(80, 101), *range(127, 147)],
    "boat": [472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914],
    "bottle": [440, 720, 737, 898, 907], "bus": [654, 779, 874],
    "car": [436, 468, 511, 609, 627, 656, 717, 751, 817], "cat": [*range(281, 286)],
    "chair": [423, 559, 765, 857], "cow": [345, 346, 347], "diningtable": [532], "dog": [*range(151, 269)],
    "horse": [339, 603], "motorbike": [665, 670], "person": [981, 982, 983], "pottedplant": [738],
    "sheep": [348, 349], "sofa": [831], "train": [466, 547, 565, 705, 820, 829], "tvmonitor": [664, 782, 851],
}

#: COCO category -> the ImageNet-1k class names that show it (resolved by name with
#: :func:`imagenet_indices`). Categories without an ImageNet counterpart (giraffe, kite, fork,
#: scissors, ...) are absent, and their objects are skipped.
IMAGENET_FOR_COCO = {
    "person": ["ballplayer", "groom", "scuba diver"], "bicycle": ["bicycle-built-for-two", "mountain bike"],
    "car": ["beach wagon", "cab", "convertible", "jeep", "limousine", "minivan", "pickup", "racer", "sports car"],
    "motorcycle": ["moped", "motor scooter"], "airplane": ["airliner", "warplane"],
    "bus": ["minibus", "school bus", "trolleybus"],
    "train": ["bullet train", "electric locomotive", "freight car", "passenger car", "steam locomotive", "streetcar"],
    "truck": ["fire engine", "garbage truck", "moving van", "pickup", "police van", "tow truck", "trailer truck"],
    "boat": ["canoe", "catamaran", "container ship", "fireboat", "gondola", "lifeboat", "liner",
             "pirate", "schooner", "speedboat", "submarine", "trimaran", "yawl"],
    "traffic light": ["traffic light"], "stop sign": ["street sign"], "parking meter": ["parking meter"],
    "bench": ["park bench"], "cat": ["tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"],
    "horse": ["sorrel"], "sheep": ["ram", "bighorn"], "cow": ["ox", "water buffalo", "bison"],
    "elephant": ["tusker", "Indian elephant", "African elephant"],
    "bear": ["brown bear", "American black bear", "ice bear", "sloth bear"], "zebra": ["zebra"],
    "backpack": ["backpack"], "umbrella": ["umbrella"], "handbag": ["purse"],
    "tie": ["bolo tie", "bow tie", "Windsor tie"], "skis": ["ski"],
    "sports ball": ["baseball", "basketball", "croquet ball", "golf ball", "ping-pong ball", "rugby ball",
                    "soccer ball", "tennis ball", "volleyball"],
    "tennis racket": ["racket"], "bottle": ["beer bottle", "pill bottle", "pop bottle", "water bottle", "wine bottle"],
    "wine glass": ["goblet"], "cup": ["cup", "coffee mug"], "spoon": ["wooden spoon"],
    "bowl": ["mixing bowl", "soup bowl"], "banana": ["banana"], "apple": ["Granny Smith"], "orange": ["orange"],
    "broccoli": ["broccoli"], "hot dog": ["hotdog"], "pizza": ["pizza"],
    "chair": ["barber chair", "folding chair", "rocking chair", "throne"], "couch": ["studio couch"],
    "potted plant": ["pot"], "bed": ["four-poster"], "dining table": ["dining table"], "toilet": ["toilet seat"],
    "tv": ["television", "monitor", "screen"], "laptop": ["laptop", "notebook"], "mouse": ["mouse"],
    "remote": ["remote control"], "keyboard": ["computer keyboard", "typewriter keyboard"],
    "cell phone": ["cellular telephone"], "microwave": ["microwave"], "toaster": ["toaster"], "sink": ["washbasin"],
    "refrigerator": ["refrigerator"], "book": ["book jacket", "comic book"],
    "clock": ["analog clock", "digital clock", "wall clock"], "vase": ["vase"], "teddy bear": ["teddy"],
    "hair drier": ["hand blower"],
}
IMAGENET_FOR_COCO["dog"] = list(range(151, 269))          # the 118 dog breeds, by index
IMAGENET_FOR_COCO["bird"] = IMAGENET_FOR_VOC["bird"]


def imagenet_indices(names_or_indices) -> list[int]:
    """ImageNet class indices of a list of class names or indices (names as :func:`class_index` reads them)."""
    return [v if isinstance(v, int) else class_index(v, "imagenet_indices") for v in names_or_indices]


def split_pointing_source(source) -> tuple[str, Path] | None:
    """``("voc07" | "coco", root)`` for a pointing-game source ``"<dataset>:<root>"``, else ``None``."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    s = str(source)
    for name in POINTING_DATASETS:
        if s.startswith(name + ":"):
            root = s[len(name) + 1:]
            if not root:
                raise ValueError(f"{s!r}: give the dataset's folder after the colon, e.g. '{name}:/data/{name}'")
            return name, Path(root).expanduser()
    return None


def _voc_images(root: Path) -> list[tuple[str, Path, list[tuple[str, list[float]]]]]:
    """``(id, image path, [(class, [x0, y0, x1, y1]), ...])`` of the VOC 2007 test set under ``root``."""
    import xml.etree.ElementTree as ET

    base = next((b for b in (root / "VOCdevkit" / "VOC2007", root / "VOC2007", root)
                 if (b / "ImageSets" / "Main" / "test.txt").is_file()), None)
    if base is None:
        raise FileNotFoundError(f"no VOC 2007 test set under {root}: expected VOCdevkit/VOC2007/ImageSets/Main/test.txt "
                                "with Annotations/ and JPEGImages/ beside it (nothing is downloaded)")
    out = []
    for image_id in (base / "ImageSets" / "Main" / "test.txt").read_text().split():
        ann = ET.parse(base / "Annotations" / f"{image_id}.xml").getroot()
        objects = []
        for obj in ann.iter("object"):
            b = obj.find("bndbox")
            # VOC boxes are 1-based inclusive pixel indices: pixel k spans [k - 1, k] in continuous coordinates
            box = [float(b.find(k).text) - (1 if k in ("xmin", "ymin") else 0) for k in ("xmin", "ymin", "xmax", "ymax")]
            objects.append((obj.find("name").text.strip(), box))
        out.append((image_id, base / "JPEGImages" / f"{image_id}.jpg", objects))
    return out


def _coco_images(root: Path) -> list[tuple[str, Path, list[tuple[str, list[float]]]]]:
    """``(id, image path, [(category, [x0, y0, x1, y1]), ...])`` of MSCOCO val2014 under ``root`` (crowd boxes left out)."""
    ann_path = root / "annotations" / "instances_val2014.json"
    if not ann_path.is_file():
        raise FileNotFoundError(f"no MSCOCO val2014 annotations under {root}: expected annotations/instances_val2014.json "
                                "and the images in val2014/ (nothing is downloaded)")
    ann = json.loads(ann_path.read_text())
    cats = {c["id"]: c["name"] for c in ann["categories"]}
    objects: dict = {}
    for a in ann["annotations"]:
        if a.get("iscrowd"):
            continue
        x, y, w, h = a["bbox"]
        objects.setdefault(a["image_id"], []).append((cats[a["category_id"]], [x, y, x + w, y + h]))
    return [(str(im["id"]), root / "val2014" / im["file_name"], objects.get(im["id"], []))
            for im in sorted(ann["images"], key=lambda im: im["file_name"])]


def pointing_entries(source: str, *, n: int | None = None, seed: int | None = None) -> list[dict]:
    """The entries of a pointing-game dataset (:data:`POINTING_DATASETS`): one per image and object class.

    ``n`` images are kept (the first ``n``, or a random subset drawn with ``seed``), then each image
    gives one entry per object class it contains: ``name`` (``"<image id>/<class>"``), ``path``,
    ``label`` -1, ``boxes`` (every object of that class, ``[x0, y0, x1, y1]`` in pixels of the
    original image), ``object_class`` and ``dataset``. Classes without an ImageNet counterpart
    (:data:`IMAGENET_FOR_VOC`, :data:`IMAGENET_FOR_COCO`) are skipped. The runner resizes the whole
    image (:func:`resize_whole`), so no object is cropped away.
    """
    split = split_pointing_source(source)
    if split is None:
        raise ValueError(f"not a pointing-game source: {source!r}; use one of "
                         f"{', '.join(f'{d}:<folder>' for d in POINTING_DATASETS)}")
    dataset, root = split
    images = _voc_images(root) if dataset == "voc07" else _coco_images(root)
    known = IMAGENET_FOR_VOC if dataset == "voc07" else IMAGENET_FOR_COCO
    images = [im for im in images if any(c in known for c, _ in im[2])]
    entries = []
    for image_id, path, objects in _select(images, n, seed):
        by_class: dict = {}
        for cls, box in objects:
            if cls in known:
                by_class.setdefault(cls, []).append(box)
        for cls in sorted(by_class):
            entries.append({"name": f"{image_id}/{cls}", "path": path, "label": -1, "boxes": by_class[cls],
                            "object_class": cls, "dataset": dataset})
    return entries
