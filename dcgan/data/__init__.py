"""Where training images come from: datasets known by name, IDX files, image folders and zips, emoji, faces.

Each loader returns an `ImageDataset` (dataset.py): float tensors (N, C, H, W) in [-1, 1], with class or
attribute labels when the source has them. A new dataset is one `register_dataset` call (registry.py); the
built-in ones are registered in loading.py, which this package imports so that any `dcgan.data` import sees
them. May import: the base modules (dcgan.errors, dcgan.io_utils, ...) only: no networks, no training.
"""

from dcgan.data import loading as _builtin_datasets  # noqa: F401  (registers fashion-mnist, mnist, emoji, faces)
