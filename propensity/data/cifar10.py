"""CIFAR-10 (section 3.1): 50,000 training and 10,000 test colour images, 32 x 32."""

import os

import torch
from torchvision.datasets import CIFAR10

from propensity.data.base import DEFAULT_EVAL_BATCH, TensorDataModule, default_root, normalized, not_found

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR10_TRAIN_SIZE = 50_000


class UncheckedCIFAR10(CIFAR10):
    """torchvision's CIFAR10 with the expected MD5 of every file set to None.

    torchvision's own ``check_integrity`` then checks only that each file exists, so
    batches written by a test (which cannot match the official checksums) are read by the
    unchanged torchvision parsing code. Used only when ``verify_checksums=False``.
    """

    train_list = [[filename, None] for filename, _ in CIFAR10.train_list]  # noqa: RUF012
    test_list = [[filename, None] for filename, _ in CIFAR10.test_list]  # noqa: RUF012
    meta = {**CIFAR10.meta, "md5": None}  # noqa: RUF012


class CIFAR10DataModule(TensorDataModule):
    """CIFAR-10 read by torchvision, held as normalized 3 x 32 x 32 tensors.

    ``val_size`` images (5,000 in the paper) are split off the 50,000 training images by
    ``data_seed``; the official 10,000 test images are the test split. ``root`` defaults to
    ``$DATA_DIR``, else ``./data``; the batches are expected in
    ``<root>/cifar-10-batches-py``. ``verify_checksums=False`` skips torchvision's MD5
    checks (and nothing else) so tests can read small generated batches; keep it True for
    real runs.
    """

    name = "cifar10"
    label = "CIFAR-10"                      # the data set's name in messages
    reader: type[CIFAR10] = CIFAR10          # torchvision's reader
    unchecked: type[CIFAR10] = UncheckedCIFAR10  # the same without MD5 checks
    mean, std = CIFAR10_MEAN, CIFAR10_STD
    classes = 10
    train_size = CIFAR10_TRAIN_SIZE

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        download: bool = False,
        batch_size: int = 64,
        val_size: int = 5_000,
        data_seed: int = 0,
        batch_seed: int = 0,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        whole_epoch: bool = False,
        verify_checksums: bool = True,
    ) -> None:
        super().__init__(batch_size, val_size, data_seed, batch_seed, eval_batch_size, whole_epoch)
        self.root = default_root(root)
        self.download = download
        self.verify_checksums = verify_checksums
        self.input_shape = (3, 32, 32)
        self.num_classes = self.classes
        self._check_val_size(self.train_size)

    @property
    def batches_folder(self) -> str:
        """Where torchvision looks for the pickled batches (CIFAR-10: ``data_batch_1..5``,
        ``test_batch``, ``batches.meta``)."""
        return os.path.join(self.root, self.reader.base_folder)

    def missing(self) -> str | None:
        """The batches and ``batches.meta`` are looked for (not read, nor checksummed) in
        `batches_folder`; with ``download`` set nothing is missing yet."""
        reader = self.reader
        names = [n for n, _ in reader.train_list + reader.test_list] + [reader.meta["filename"]]
        if self.download or all(os.path.isfile(os.path.join(self.batches_folder, n)) for n in names):
            return None
        return str(not_found(self.label, self.batches_folder))

    def _dataset(self, train: bool, download: bool) -> CIFAR10:
        reader = self.reader if self.verify_checksums else self.unchecked
        try:
            return reader(str(self.root), train=train, download=download)
        except (RuntimeError, OSError) as err:
            if download:
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise not_found(self.label, self.batches_folder, reason) from None
            note = " (or a file fails its checksum)"
            raise not_found(self.label, self.batches_folder, note=note) from None

    def prepare_data(self) -> None:
        """Download the archive when ``download`` is set (Lightning runs this on one process)."""
        if self.download:
            self._dataset(train=True, download=True)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """torchvision's parsed HWC uint8 arrays as CHW tensors, normalized per channel."""
        train, test = self._dataset(True, False), self._dataset(False, False)

        def images(data: object) -> torch.Tensor:
            return torch.as_tensor(data).permute(0, 3, 1, 2).contiguous()

        return (
            normalized(images(train.data), self.mean, self.std),
            torch.as_tensor(train.targets, dtype=torch.int64),
            normalized(images(test.data), self.mean, self.std),
            torch.as_tensor(test.targets, dtype=torch.int64),
        )
