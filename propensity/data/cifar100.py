"""CIFAR-100, beyond the paper (section 6's other tasks): CIFAR-10's images, 100 classes.

50,000 training and 10,000 test 32 x 32 colour images in 100 fine classes (Krizhevsky,
2009), read by torchvision from the pickled ``train``, ``test`` and ``meta`` files.
"""

from torchvision.datasets import CIFAR100

from propensity.data.cifar10 import CIFAR10DataModule

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class UncheckedCIFAR100(CIFAR100):
    """torchvision's CIFAR100 with every expected MD5 set to None (``verify_checksums=False``):
    files are only checked to exist, so small generated files are read by torchvision's parser."""

    train_list = [[filename, None] for filename, _ in CIFAR100.train_list]  # noqa: RUF012
    test_list = [[filename, None] for filename, _ in CIFAR100.test_list]  # noqa: RUF012
    meta = {**CIFAR100.meta, "md5": None}  # noqa: RUF012


class CIFAR100DataModule(CIFAR10DataModule):
    """CIFAR-100 (fine labels) as normalized 3 x 32 x 32 tensors; the files are expected in
    ``<root>/cifar-100-python``. ``val_size`` images are split off the 50,000 training images by
    ``data_seed``; the official 10,000 test images are the test split."""

    name = "cifar100"
    label = "CIFAR-100"
    reader = CIFAR100
    unchecked = UncheckedCIFAR100
    mean, std = CIFAR100_MEAN, CIFAR100_STD
    classes = 100
