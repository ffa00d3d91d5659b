"""Fashion-MNIST, beyond the paper (section 6's other tasks): MNIST's format and sizes, clothing.

60,000 training and 10,000 test 28 x 28 grey images of ten kinds of clothing (Xiao et al.,
2017), read by torchvision from the four IDX files MNIST uses; a drop-in harder MNIST.
"""

from torchvision.datasets import FashionMNIST

from propensity.data.mnist import MNISTDataModule

FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST as normalized 1 x 28 x 28 tensors; the files are expected in
    ``<root>/FashionMNIST/raw``. ``val_size`` images are split off the 60,000 training images
    by ``data_seed``; the official 10,000 test images are the test split."""

    name = "fashion_mnist"
    label = "Fashion-MNIST"
    reader = FashionMNIST
    mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
