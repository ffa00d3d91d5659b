"""scikit-learn's 8 x 8 digits: the embedded dataset of the quickstart, offline by design.

Not a dataset of the paper (section 3.1 uses MNIST and CIFAR-10); it is a miniature of
MNIST that ships inside scikit-learn, so the whole pipeline runs with no download.
"""

import torch
from sklearn.datasets import load_digits

from propensity.data.base import DEFAULT_EVAL_BATCH, TensorDataModule, normalized

DIGITS_SIZE = 1_797
# Mean and std of all 1,797 images after scaling pixel values 0..16 to [0, 1].
DIGITS_MEAN = (0.3053,)
DIGITS_STD = (0.3760,)


class DigitsDataModule(TensorDataModule):
    """The 1,797 digits as normalized 1 x 8 x 8 tensors, split by ``data_seed``.

    There is no official test set, so one permutation seeded by ``data_seed`` alone takes
    ``test_size`` images (default 300) as the test split; ``val_size`` (default 300) of the
    rest are then split off as in section 3.1, leaving 1,197 training images by default.
    ``test_indices``, ``pool_indices`` (the 1,497 non-test images in dataset order) and the
    base class's ``train_indices``/``val_indices`` (positions within ``pool_indices``)
    record which images went where.
    """

    name = "digits"

    def __init__(
        self,
        batch_size: int = 64,
        val_size: int = 300,
        test_size: int = 300,
        data_seed: int = 0,
        batch_seed: int = 0,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        whole_epoch: bool = False,
    ) -> None:
        super().__init__(batch_size, val_size, data_seed, batch_seed, eval_batch_size, whole_epoch)
        if not 1 <= test_size < DIGITS_SIZE:
            raise ValueError(
                f"data.test_size={test_size} must be between 1 and {DIGITS_SIZE - 1} "
                f"(digits has {DIGITS_SIZE} images)"
            )
        self.test_size = test_size
        self.input_shape = (1, 8, 8)
        self.num_classes = 10
        self._check_val_size(DIGITS_SIZE - test_size)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Scale to [0, 1], normalize, and set the seeded test split aside."""
        digits = load_digits()
        x = normalized(
            torch.as_tensor(digits.images).unsqueeze(1), DIGITS_MEAN, DIGITS_STD, scale=16.0
        )
        y = torch.as_tensor(digits.target, dtype=torch.int64)
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.data_seed))
        self.test_indices = perm[: self.test_size].sort().values
        self.pool_indices = perm[self.test_size :].sort().values
        pool, test = self.pool_indices, self.test_indices
        return x[pool], y[pool], x[test], y[test]
