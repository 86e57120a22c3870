"""Train ClinCLIP on PyTorch: one device, or several through torchrun + DDP.

    python recipes/train_torch.py --dataset=synthetic --epochs=1
    torchrun --nproc-per-node=4 recipes/train_torch.py --batch-size=256

Under `torchrun` every process joins the process group (nccl on GPUs,
gloo on CPU), starts from rank 0's weights, reads its contiguous slice of
each global batch (`--batch-size` is global), gathers the embeddings of
all processes in the loss (with gradient) and averages the gradients
before each AdamW step: the DDP recipe, on Keras's own `model.fit`. Rank 0
writes logs, checkpoints and backups. Every `TrainingConfig` field is an
option, spelled as in `clinclip train` (see `--help`).
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "torch"

from keras_clinclip.cli.options import ArgumentParser  # noqa: E402
from keras_clinclip.cli.options import add_config_options  # noqa: E402
from keras_clinclip.training.config import config_from_args  # noqa: E402


def parse_args(argv=None):
    """The recipe's options: every config field."""
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_options(parser)
    args = parser.parse_args(argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    from keras_clinclip.backend import engines
    from keras_clinclip.training.train import train

    setup = engines.torch_setup()
    result = train(config_from_args(args), setup=setup)
    print(
        f"FINISHED steps={result.steps} start={result.start_step} "
        f"replicas={setup.num_replicas} {setup.description}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
