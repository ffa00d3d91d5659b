"""MNIST (section 3.1): 60,000 training and 10,000 test images of handwritten digits."""

import os

import torch
from torchvision.datasets import MNIST

from propensity.data.base import (
    DEFAULT_EVAL_BATCH,
    DatasetNotFoundError,
    TensorDataModule,
    default_root,
    normalized,
    not_found,
)

MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
MNIST_TRAIN_SIZE = 60_000


class MNISTDataModule(TensorDataModule):
    """MNIST read by torchvision, held as normalized 1 x 28 x 28 tensors.

    ``val_size`` images (5,000 in the paper) are split off the 60,000 training images by
    ``data_seed``; the official 10,000 test images are the test split. ``root`` defaults to
    ``$DATA_DIR``, else ``./data``; the files are expected in ``<root>/MNIST/raw``.
    With ``download=False`` (the default) nothing touches the network.
    """

    name = "mnist"
    label = "MNIST"           # the data set's name in messages
    reader: type[MNIST] = MNIST  # torchvision's reader; its class name is the folder under root
    mean, std = MNIST_MEAN, MNIST_STD
    train_size = MNIST_TRAIN_SIZE

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = False,
        batch_size: int = 64,
        val_size: int = 5_000,
        data_seed: int = 0,
        batch_seed: int = 0,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        whole_epoch: bool = False,
    ) -> None:
        super().__init__(batch_size, val_size, data_seed, batch_seed, eval_batch_size, whole_epoch)
        self.root = default_root(root)
        self.download = download
        self.input_shape = (1, 28, 28)
        self.num_classes = 10
        self._check_val_size(self.train_size)

    @property
    def raw_folder(self) -> str:
        """Where torchvision looks for the four IDX files."""
        return os.path.join(self.root, self.reader.__name__, "raw")

    def missing(self) -> str | None:
        """The four IDX files torchvision reads are looked for (not read) in `raw_folder`;
        with ``download`` set nothing is missing yet."""
        names = [os.path.splitext(os.path.basename(url))[0] for url, _ in self.reader.resources]
        if self.download or all(os.path.isfile(os.path.join(self.raw_folder, n)) for n in names):
            return None
        return str(not_found(self.label, self.raw_folder))

    def _dataset(self, train: bool, download: bool) -> MNIST:
        try:
            return self.reader(str(self.root), train=train, download=download)
        except RuntimeError as err:
            if download:
                reason = str(err).splitlines()[0].rstrip(":")
                raise not_found(self.label, self.raw_folder, reason) from None
            raise not_found(self.label, self.raw_folder) from None
        except (AssertionError, ValueError, OSError) as err:  # torchvision's parser on a damaged file
            reason = f"{type(err).__name__}: {err}".rstrip(": ")
            raise DatasetNotFoundError(
                f"{self.label} files under {self.raw_folder} are unreadable ({reason}); delete them and run "
                "with data.download=true on a machine with internet, or set DATA_DIR") from None

    def prepare_data(self) -> None:
        """Download the files when ``download`` is set (Lightning runs this on one process)."""
        if self.download:
            self._dataset(train=True, download=True)
            self._dataset(train=False, download=True)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """torchvision's parsed uint8 images, normalized by the data set's mean and std."""
        train, test = self._dataset(True, False), self._dataset(False, False)
        return (
            normalized(train.data.unsqueeze(1), self.mean, self.std),
            train.targets.to(torch.int64),
            normalized(test.data.unsqueeze(1), self.mean, self.std),
            test.targets.to(torch.int64),
        )
