"""Vision datasets for the loss benchmarks: built offline, or read from the standard files on disk.

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, offline).
* ``mnist1d``: MNIST-1D (Greydanus & Kobak, 2024) generated procedurally from its ten templates
  with the reference recipe (pad, dilate, scale, translate, correlated + i.i.d. noise, shear,
  subsample to 40 points); 4,000 train / 1,000 test at the default size.
* ``mnist``, ``cifar10``, ``cifar100``, ``stl10``: read from ``data_dir`` in their published formats
  (IDX files, the python-pickle batches, the STL-10 binary files). Nothing is downloaded: a missing
  file raises :class:`DatasetFilesError` naming every file expected and where.

Every dataset comes back as a :class:`VisionDataset` of float32 arrays in ``(N, C, H, W)`` (images,
values in ``[0, 1]``) or ``(N, C, L)`` (MNIST-1D signals, standardised), integer class labels, and,
where the data has one, a known continuous factor of variation that Rank-N-Contrast regresses.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clrl.errors import UserError

DATASETS = ("digits", "mnist1d", "mnist", "cifar10", "cifar100", "stl10")
#: The continuous factor of variation each dataset records (what Rank-N-Contrast regresses).
CONTINUOUS_FACTORS = {"digits": "slant", "mnist": "slant", "mnist1d": "shear"}


class DatasetFilesError(UserError):
    """A dataset whose files are missing from ``data_dir`` or are not in the expected format."""


@dataclass
class VisionDataset:
    """Train and test splits of one dataset, ready for the encoders.

    Shapes: ``train_x`` ``(N, C, H, W)`` or ``(N, C, L)`` float32; ``train_y`` ``(N,)`` int64 in
    ``[0, num_classes)``; ``train_factor`` ``(N,)`` float32 (or ``None``): a continuous property of
    each sample named by ``factor_name``.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    factor_name: str | None = None
    train_factor: np.ndarray | None = None
    test_factor: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])

    @property
    def is_signal(self) -> bool:
        """True for 1-D signals ``(C, L)``, false for images ``(C, H, W)``."""
        return self.train_x.ndim == 3


def load_dataset(
    name: str, data_dir: str | Path | None = None, *, mnist1d_samples: int = 5000
) -> VisionDataset:
    """Load dataset ``name`` (one of :data:`DATASETS`); file-based ones are read from ``data_dir``."""
    if name == "digits":
        return load_digits()
    if name == "mnist1d":
        return make_mnist1d(num_samples=mnist1d_samples)
    readers = {"mnist": read_mnist, "cifar10": read_cifar10, "cifar100": read_cifar100, "stl10": read_stl10}
    if name not in readers:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if data_dir is None:
        raise UserError(f"dataset {name!r} is read from local files: set data_dir=<folder>")
    return readers[name](data_dir)


# --------------------------------------------------------------------------- offline datasets


def load_digits(test_fraction: float = 0.2, split_seed: int = 0) -> VisionDataset:
    """scikit-learn's 8x8 digits, split once (stratified, fixed seed) so every run tests on the same set."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # pixel values are 0..16
    labels = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, random_state=split_seed, stratify=labels
    )
    return VisionDataset(
        "digits",
        train_x,
        train_y,
        test_x,
        test_y,
        10,
        factor_name=CONTINUOUS_FACTORS["digits"],
        train_factor=image_slant(train_x),
        test_factor=image_slant(test_x),
    )


def image_slant(images: np.ndarray) -> np.ndarray:
    """Slant of the ink in each image: the central moment ratio ``mu11 / mu02`` (the deskewing shear).

    ``images``: ``(N, C, H, W)``; channels are averaged. Returns ``(N,)`` float32; a blank image has
    slant 0. It is a nonlinear function of the pixels, so a linear regression on pixels cannot read
    it off exactly, which makes it a fair continuous target for Rank-N-Contrast.
    """
    ink = images.mean(axis=1).astype(np.float64)  # (N, H, W)
    height, width = ink.shape[1:]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    mass = ink.sum(axis=(1, 2))
    safe_mass = np.where(mass > 0, mass, 1.0)
    row_mean = (ink * rows).sum(axis=(1, 2)) / safe_mass
    col_mean = (ink * cols).sum(axis=(1, 2)) / safe_mass
    d_row = rows[None] - row_mean[:, None, None]
    d_col = cols[None] - col_mean[:, None, None]
    mu11 = (ink * d_row * d_col).sum(axis=(1, 2))
    mu02 = (ink * d_row * d_row).sum(axis=(1, 2))
    slant = np.where(mu02 > 1e-12, mu11 / np.where(mu02 > 1e-12, mu02, 1.0), 0.0)
    return slant.astype(np.float32)


#: The ten MNIST-1D digit templates (Greydanus & Kobak), 12 points each.
MNIST1D_TEMPLATES = np.array(
    [
        [5, 6, 6.5, 6.75, 7, 7, 7, 7, 6.75, 6.5, 6, 5],
        [5, 3, 3, 3.4, 3.8, 4.2, 4.6, 5, 5.4, 5.8, 5, 5],
        [5, 6, 6.5, 6.5, 6, 5.25, 4.75, 4, 3.5, 3.5, 4, 5],
        [5, 6, 6.5, 6.5, 6, 5, 5, 6, 6.5, 6.5, 6, 5],
        [5, 4.4, 3.8, 3.2, 2.6, 2.6, 5, 5, 5, 5, 5, 5],
        [5, 3, 3, 3, 3, 5, 6, 6.5, 6.5, 6, 4.5, 5],
        [5, 4, 3.5, 3.25, 3, 3, 3, 3, 3.25, 3.5, 4, 5],
        [5, 7, 7, 6.6, 6.2, 5.8, 5.4, 5, 4.6, 4.2, 5, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 4, 3.5, 3.5, 4, 5],
        [5, 4, 3.5, 3.5, 4, 5, 5, 5, 5, 4.7, 4.3, 5],
    ]
)


@dataclass(frozen=True)
class MNIST1DRecipe:
    """The reference generation parameters of MNIST-1D (its ``get_dataset_args`` defaults)."""

    template_len: int = 12
    padding: tuple[int, int] = (36, 60)
    scale_coeff: float = 0.4
    max_translation: int = 48
    corr_noise_scale: float = 0.25
    iid_noise_scale: float = 2e-2
    shear_scale: float = 0.75
    final_seq_length: int = 40


def mnist1d_templates() -> np.ndarray:
    """Templates whitened per row, shifted to start at 0 and scaled by 1/6, as in the reference."""
    x = MNIST1D_TEMPLATES - MNIST1D_TEMPLATES.mean(axis=1, keepdims=True)
    x = x / x.std(axis=1, keepdims=True)
    return (x - x[:, :1]) / 6.0


def resample(signal: np.ndarray, length: int) -> np.ndarray:
    """Linear interpolation of ``signal`` onto ``length`` evenly spaced points over the same span."""
    return np.interp(np.linspace(0.0, 1.0, length), np.linspace(0.0, 1.0, len(signal)), signal)


def mnist1d_sample(
    template: np.ndarray, rng: np.random.Generator, recipe: MNIST1DRecipe
) -> tuple[np.ndarray, float]:
    """One MNIST-1D signal from ``template``; returns ``(signal (final_seq_length,), shear coefficient)``."""
    from scipy.ndimage import gaussian_filter1d

    low, high = recipe.padding
    pad = low + int(rng.random() * (high - low + 1))
    x = np.concatenate([template + 1e-8, np.zeros(pad)])  # eps keeps the digit apart from the padding
    x = resample(x, recipe.template_len + high)  # dilate
    x = x * (1.0 + recipe.scale_coeff * (rng.random() - 0.5))
    shift = int(rng.integers(recipe.max_translation))
    x = np.roll(x, shift)
    background = x == 0
    correlated = gaussian_filter1d(recipe.corr_noise_scale * rng.standard_normal(len(x)), 2, mode="reflect")
    x = np.where(background, correlated, x)
    x = x + recipe.iid_noise_scale * rng.standard_normal(len(x))
    shear = recipe.shear_scale * (rng.random() - 0.5)
    x = x - shear * np.linspace(-0.5, 0.5, len(x))
    return resample(x, recipe.final_seq_length), shear


def make_mnist1d(
    num_samples: int = 5000, seed: int = 42, train_fraction: float = 0.8, recipe: MNIST1DRecipe | None = None
) -> VisionDataset:
    """Generate MNIST-1D: ``num_samples`` signals, equal per class, shuffled, standardised globally.

    The continuous factor is the shear coefficient of each signal (uniform in ``[-0.375, 0.375]``),
    a known generative factor that Rank-N-Contrast can be asked to regress.
    """
    recipe = recipe or MNIST1DRecipe()
    if num_samples < 20:
        raise UserError(f"mnist1d needs at least 20 samples, got {num_samples}")
    rng = np.random.default_rng(seed)
    templates = mnist1d_templates()
    per_class = num_samples // len(templates)
    signals, labels, shears = [], [], []
    for label, template in enumerate(templates):
        for _ in range(per_class):
            signal, shear = mnist1d_sample(template, rng, recipe)
            signals.append(signal)
            labels.append(label)
            shears.append(shear)
    order = rng.permutation(len(labels))
    x = np.stack(signals)[order]
    x = ((x - x.mean()) / x.std()).astype(np.float32)[:, None]  # (N, 1, L)
    y = np.asarray(labels, dtype=np.int64)[order]
    shear = np.asarray(shears, dtype=np.float32)[order]
    split = int(len(y) * train_fraction)
    return VisionDataset(
        "mnist1d",
        x[:split],
        y[:split],
        x[split:],
        y[split:],
        10,
        factor_name=CONTINUOUS_FACTORS["mnist1d"],
        train_factor=shear[:split],
        test_factor=shear[split:],
    )


# --------------------------------------------------------------------------- file readers


def resolve_folder(data_dir: str | Path, folder: str, expected: list[str], dataset: str) -> Path:
    """The folder holding ``expected`` files: ``data_dir/folder`` or ``data_dir`` itself.

    Raises :class:`DatasetFilesError` listing the files that are missing and the download to unpack.
    """
    data_dir = Path(data_dir)
    for candidate in (data_dir / folder, data_dir):
        if all(any((candidate / name).is_file() for name in alternatives(file)) for file in expected):
            return candidate
    where = data_dir / folder
    missing = [f for f in expected if not any((where / n).is_file() for n in alternatives(f))]
    found = "none of them is there" if len(missing) == len(expected) else f"missing: {', '.join(missing)}"
    raise DatasetFilesError(
        f"{dataset}: expected files {', '.join(expected)} in {where} ({found}); "
        f"download and unpack the official {dataset} archive there, nothing is downloaded at run time"
    )


def alternatives(name: str) -> tuple[str, ...]:
    """IDX files are accepted plain or gzipped."""
    return (name, f"{name}.gz") if "idx" in name else (name,)


def open_maybe_gzip(path: Path) -> bytes:
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return path.read_bytes()
    with gzip.open(gz, "rb") as handle:
        return handle.read()


IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``): magic ``0 0 dtype ndim``, big-endian int32 dims, data."""
    raw = open_maybe_gzip(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise DatasetFilesError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}i", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        held = len(raw) - header
        raise DatasetFilesError(f"{path}: header says shape {shape} but the file holds {held} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


MNIST_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def read_mnist(data_dir: str | Path) -> VisionDataset:
    """MNIST from its four IDX files (plain or gzipped) in ``data_dir/mnist`` or ``data_dir``."""
    folder = resolve_folder(data_dir, "mnist", MNIST_FILES, "mnist")
    train_images, train_labels, test_images, test_labels = (read_idx(folder / f) for f in MNIST_FILES)
    for images, labels in ((train_images, train_labels), (test_images, test_labels)):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DatasetFilesError(f"mnist files in {folder} have mismatched shapes")
    train_x = (train_images.astype(np.float32) / 255.0)[:, None]
    test_x = (test_images.astype(np.float32) / 255.0)[:, None]
    return VisionDataset(
        "mnist",
        train_x,
        train_labels.astype(np.int64),
        test_x,
        test_labels.astype(np.int64),
        10,
        factor_name=CONTINUOUS_FACTORS["mnist"],
        train_factor=image_slant(train_x),
        test_factor=image_slant(test_x),
    )


def read_pickle_batch(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DatasetFilesError(f"{path} is not a CIFAR python-pickle batch ({exc})") from None
    if not isinstance(batch, dict) or b"data" not in batch:
        raise DatasetFilesError(f"{path} is not a CIFAR python-pickle batch (no b'data' entry)")
    return batch


def cifar_images(batch: dict, path: Path) -> np.ndarray:
    """``(N, 3072)`` uint8 rows (1024 red, 1024 green, 1024 blue, row-major) -> ``(N, 3, 32, 32)`` float."""
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFilesError(f"{path}: data has shape {data.shape}, expected (N, 3072)")
    return data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0


CIFAR10_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]


def read_cifar10(data_dir: str | Path) -> VisionDataset:
    """CIFAR-10 from the python-pickle batches in ``data_dir/cifar-10-batches-py`` or ``data_dir``."""
    folder = resolve_folder(data_dir, "cifar-10-batches-py", CIFAR10_FILES, "cifar10")
    parts = []
    for name in CIFAR10_FILES:
        batch = read_pickle_batch(folder / name)
        parts.append((cifar_images(batch, folder / name), np.asarray(batch[b"labels"], dtype=np.int64)))
    train_x = np.concatenate([x for x, _ in parts[:-1]])
    train_y = np.concatenate([y for _, y in parts[:-1]])
    test_x, test_y = parts[-1]
    return VisionDataset("cifar10", train_x, train_y, test_x, test_y, 10)


def read_cifar100(data_dir: str | Path, label_kind: str = "fine") -> VisionDataset:
    """CIFAR-100 (``fine``: 100 classes, ``coarse``: 20 superclasses) from ``cifar-100-python``."""
    folder = resolve_folder(data_dir, "cifar-100-python", ["train", "test"], "cifar100")
    key = {"fine": b"fine_labels", "coarse": b"coarse_labels"}[label_kind]
    splits = []
    for name in ("train", "test"):
        batch = read_pickle_batch(folder / name)
        if key not in batch:
            raise DatasetFilesError(f"{folder / name} has no {key.decode()} entry")
        splits.append((cifar_images(batch, folder / name), np.asarray(batch[key], dtype=np.int64)))
    (train_x, train_y), (test_x, test_y) = splits
    return VisionDataset("cifar100", train_x, train_y, test_x, test_y, 100 if label_kind == "fine" else 20)


STL10_FILES = ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]


def read_stl10_images(path: Path) -> np.ndarray:
    """STL-10 ``*_X.bin``: uint8, each image 3x96x96 stored column-major -> ``(N, 3, 96, 96)`` float."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % (3 * 96 * 96):
        raise DatasetFilesError(f"{path} holds {raw.size} bytes, not a whole number of 3x96x96 images")
    # Each channel plane is written column by column (MATLAB order), so swap H and W back.
    return raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2).astype(np.float32) / 255.0


def read_stl10_labels(path: Path) -> np.ndarray:
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64)
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DatasetFilesError(f"{path}: STL-10 labels must be 1..10")
    return labels - 1


def read_stl10(data_dir: str | Path) -> VisionDataset:
    """STL-10 labelled splits from the binary files in ``data_dir/stl10_binary`` or ``data_dir``."""
    folder = resolve_folder(data_dir, "stl10_binary", STL10_FILES, "stl10")
    train_x, test_x = read_stl10_images(folder / "train_X.bin"), read_stl10_images(folder / "test_X.bin")
    train_y, test_y = read_stl10_labels(folder / "train_y.bin"), read_stl10_labels(folder / "test_y.bin")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DatasetFilesError(f"stl10 files in {folder}: image and label counts differ")
    return VisionDataset("stl10", train_x, train_y, test_x, test_y, 10)
