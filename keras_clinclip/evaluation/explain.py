"""`clinclip explain`: where in an image a preset sees a text.

    clinclip explain --preset DIR --image x.png --text "left effusion"

writes a PNG of where in the image the preset sees the text. The maps
come from `evaluation.similarity_maps`; scoring them against regions is
`evaluation.pointing`, and the SynthCXR evaluation
`evaluation.synthcxr_localization`.
"""

import pathlib

import numpy as np

from keras_clinclip.data import decode_image
from keras_clinclip.evaluation import plots
from keras_clinclip.evaluation.embed import embed_texts
from keras_clinclip.evaluation.model_loading import load_preset_model
from keras_clinclip.evaluation.similarity_maps import localization_maps

__all__ = ["run"]


def run(args):
    """Run `clinclip explain`: write the map of one image and one text.

    Args:
        args: the parsed options of `keras_clinclip.cli.explain`.

    Returns:
        0 on success.

    Example:
    >>> import argparse
    >>> from keras_clinclip.cli import explain
    >>> parser = argparse.ArgumentParser()
    >>> explain.add_arguments(parser)
    >>> args = parser.parse_args(["--preset", ".", "--image", "missing.png",
    ...                           "--text", "effusion"])
    >>> try:
    ...     run(args)
    ... except FileNotFoundError as error:
    ...     print(error)
    --image 'missing.png' does not exist
    """
    if not pathlib.Path(args.image).exists():
        raise FileNotFoundError(f"--image {args.image!r} does not exist")
    if not args.text.strip():
        raise ValueError("--text is empty: give a finding or a sentence")
    backbone, preprocessor = load_preset_model(args.preset)
    image = decode_image(args.image)
    converted = np.asarray(preprocessor.convert_images(image))
    if converted.ndim == 3:
        converted = converted[None]
    text = embed_texts(backbone, [args.text], preprocessor)
    out = localization_maps(
        backbone, None, converted, text, output_size=image.shape[:2]
    )
    plots.plot_localization_maps(
        image[None],
        out["maps"],
        titles=[args.text],
        path=args.output,
        title="Similarity of each position with the text",
    )
    sim = out["similarity"][0]
    row, col = np.unravel_index(int(np.argmax(sim)), sim.shape)
    print(
        f"Wrote {args.output}: cosine similarity on a {sim.shape[0]}x"
        f"{sim.shape[1]} grid from {sim.min():.3f} to {sim.max():.3f}, "
        f"highest at row {row}, column {col} "
        f"({(row + 0.5) / sim.shape[0]:.0%} down, "
        f"{(col + 0.5) / sim.shape[1]:.0%} across the image)."
    )
    return 0
