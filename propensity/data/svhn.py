"""SVHN, beyond the paper (section 6's other tasks): house-number digits in colour, 32 x 32.

73,257 training and 26,032 test images of street-view house numbers (Netzer et al., 2011;
the "extra" split is not used), read by torchvision from ``train_32x32.mat`` and
``test_32x32.mat`` (MATLAB files, read with scipy); the label 10 of the digit 0 is mapped to 0
by torchvision.
"""

import os

import torch
from torchvision.datasets import SVHN

from propensity.data.base import DEFAULT_EVAL_BATCH, TensorDataModule, default_root, normalized, not_found

SVHN_MEAN = (0.4377, 0.4438, 0.4728)
SVHN_STD = (0.1980, 0.2010, 0.1970)
SVHN_TRAIN_SIZE = 73_257
FOLDER = "svhn"


class UncheckedSVHN(SVHN):
    """torchvision's SVHN with every expected MD5 set to None (``verify_checksums=False``):
    files are only checked to exist, so small generated files are read by torchvision's parser."""

    split_list = {split: [url, filename, None]  # noqa: RUF012
                  for split, (url, filename, _) in SVHN.split_list.items()}


class SVHNDataModule(TensorDataModule):
    """SVHN as normalized 3 x 32 x 32 tensors. The two files are expected in ``<root>/svhn``
    (torchvision's root for them), ``val_size`` images are split off the 73,257 training images
    by ``data_seed`` and the 26,032 test images are the test split. ``verify_checksums=False``
    skips torchvision's MD5 checks (and nothing else), for tests; keep it True for real runs."""

    name = "svhn"

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
        self.num_classes = 10
        self._check_val_size(SVHN_TRAIN_SIZE)

    @property
    def folder(self) -> str:
        """Where torchvision looks for ``train_32x32.mat`` and ``test_32x32.mat``."""
        return os.path.join(self.root, FOLDER)

    def missing(self) -> str | None:
        """Both ``.mat`` files are looked for (not read) in `folder`; with ``download`` set
        nothing is missing yet."""
        names = [SVHN.split_list[split][1] for split in ("train", "test")]
        if self.download or all(os.path.isfile(os.path.join(self.folder, n)) for n in names):
            return None
        return str(not_found("SVHN", self.folder))

    def _dataset(self, split: str, download: bool) -> SVHN:
        reader = SVHN if self.verify_checksums else UncheckedSVHN
        try:
            return reader(self.folder, split=split, download=download)
        except (RuntimeError, OSError, ValueError) as err:
            if download:
                reason = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise not_found("SVHN", self.folder, reason) from None
            raise not_found("SVHN", self.folder, note=" (or a file fails its checksum)") from None

    def prepare_data(self) -> None:
        """Download both files when ``download`` is set."""
        if self.download:
            self._dataset("train", download=True)
            self._dataset("test", download=True)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """torchvision's N x 3 x 32 x 32 uint8 arrays, normalized per channel."""
        train, test = self._dataset("train", False), self._dataset("test", False)
        return (
            normalized(torch.as_tensor(train.data).contiguous(), SVHN_MEAN, SVHN_STD),
            torch.as_tensor(train.labels, dtype=torch.int64),
            normalized(torch.as_tensor(test.data).contiguous(), SVHN_MEAN, SVHN_STD),
            torch.as_tensor(test.labels, dtype=torch.int64),
        )
