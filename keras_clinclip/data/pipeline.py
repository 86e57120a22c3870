"""`make_dataset`: records -> a `tf.data.Dataset` of `(x, y)` batches.

The same dataset feeds `model.fit` on TensorFlow, JAX and PyTorch (Keras
reads `tf.data` on every backend).
"""

import numpy as np

from keras_clinclip import tables
from keras_clinclip.data import augment as augment_lib
from keras_clinclip.data import balance
from keras_clinclip.data import records as rec
from keras_clinclip.data import strict_images
from keras_clinclip.data import truncation as trunc
from keras_clinclip.data.error_log import ErrorLog
from keras_clinclip.data.error_log import RecordError
from keras_clinclip.data.negation_options import NegationOptions
from keras_clinclip.data.pipeline_options import PipelineOptions
from keras_clinclip.data.report_graphs import dense_batch
from keras_clinclip.data.sharding import dataset_options
from keras_clinclip.reports.negation_mix import family_negations


def _image_size(preprocessor, image_size):
    if image_size is not None:
        return int(image_size)
    for owner in (preprocessor, getattr(preprocessor, "image_converter", None)):
        size = getattr(owner, "image_size", None)
        if size is not None:
            return int(size[0] if isinstance(size, (tuple, list)) else size)
    return 224


def _check_rows(records, n, on_error, log):
    """Empty reports, bad labels, missing files: raise or drop."""
    keep = np.ones(n, bool)
    problems = []
    for row in rec.bad_label_rows(records["labels"]):
        bad = records["labels"][row]
        bad = bad[~(np.isnan(bad) | np.isin(bad, [1.0, 0.0, -1.0]))]
        problems.append(
            (row, f"label {float(bad[0])!r} is not one of 1, 0, -1 or NaN")
        )
    for row, text in enumerate(records["report"]):
        if rec.is_blank(text):
            problems.append((row, "empty report"))
    if "image_path" in records:
        import os

        for row, path in enumerate(records["image_path"]):
            if rec.is_blank(path) or not os.path.isfile(str(path)):
                problems.append((row, f"image file not found: {path}"))
    problems.sort(key=lambda item: item[0])
    for row, reason in problems:
        source = records["id"][row]
        if "image_path" in records:
            source = f"{source}, {records['image_path'][row]}"
        if on_error == "raise":
            raise RecordError(
                f"records row {row + 1} (id {source}): {reason}. Fix the "
                "row or pass on_error='skip' to skip such samples."
            )
        keep[row] = False
        log.skipped.append((int(row), source, reason))
    return keep


def _pad_negations(records, num_negations, n):
    texts = np.full((n, num_negations), "", dtype=object)
    mask = np.zeros((n, num_negations), np.float32)
    labels = np.zeros((n, num_negations, rec.NUM_CLASSES), np.float32)
    given = records.get("negations")
    given_labels = records.get("negation_labels")
    for i in range(n):
        variants = list(given[i]) if given is not None else []
        for k, text in enumerate(variants[:num_negations]):
            if rec.is_blank(text):
                continue
            texts[i, k] = str(text)
            mask[i, k] = 1.0
            if given_labels is not None and k < np.shape(given_labels)[1]:
                labels[i, k] = given_labels[i][k]
    return texts, mask, labels


def make_dataset(
    records,
    preprocessor,
    batch_size=32,
    split=None,
    training=False,
    image_size=None,
    negations=None,
    options=None,
):
    """Build the `tf.data` pipeline from a records dict.

    Steps: filter the split; check every row (empty report, label outside
    {1, 0, -1, NaN}, missing file); shard; shuffle; decode (JPEG, PNG,
    DICOM; a JPEG of at least twice `image_size` is decoded reduced in
    the DCT, see `decode_image(reduce_to=)`) or take the in-memory image;
    resize to `image_size` (antialiased bilinear); batch;
    augment (random resized crop, small rotation, brightness and contrast;
    no horizontal flip unless asked); convert images and tokenise reports
    and negated reports with `preprocessor`; attach labels, negation masks
    and labels, graph arrays; prefetch.

    Before the first epoch, reports with negations are cut so that every
    negation's edit fits `sequence_length` (`NegationOptions.truncation`,
    see `keras_clinclip.data.truncation`), and a negation whose token ids
    still equal its report's gets `negation_mask = 0`, is counted in
    `dataset.error_log.masked_negations` and reported in the log at the end
    of each epoch (the collision guard).

    Batches are `(x, y)` with `x["images"]`, `x["token_ids"]`,
    `x["padding_mask"]`, and when K > 0 `x["negation_token_ids"]` (B, K,
    L), `x["negation_padding_mask"]`; `x["graph_nodes"]`,
    `x["graph_adjacency"]`, `x["graph_node_mask"]` when the records have
    them (dense, or compact under `graphs`: made dense per batch);
    `y["labels"]` (B, 14), and when K > 0 `y["negation_mask"]` (B, K)
    and `y["negation_labels"]` (B, K, 14).

    Args:
        records: a records dict (see `docs/architecture.md`).
        preprocessor: any object with `tokenize(texts)` (tf string tensor
            (B,) or (B, K) -> dict `token_ids`, `padding_mask`) and
            `convert_images(images)` ((B, H, W, 1) float in [0, 1] ->
            float32 (B, S, S, 3)), e.g. `ClinCLIPPreprocessor`.
        batch_size: the (per-worker) batch size (default 32).
        split: `None` (default: all rows), a split name or a list of names.
        training: the default of `PipelineOptions`' `shuffle`, `augment`
            and `drop_remainder` (default False).
        image_size: the side to which images are resized before the
            preprocessor (default `None`: the preprocessor's image size,
            224 when it has none).
        negations: a `NegationOptions` (default `None`:
            `NegationOptions()`, the records' own negated reports).
        options: a `PipelineOptions`: the order, augmentation and reading
            stages (default `None`: `PipelineOptions()`).

    Returns:
        A `tf.data.Dataset` of `(x, y)`, with an `error_log` attribute
        (`ErrorLog`) and `negation_mask`: the `(rows, K)` negation mask of
        the rows it reads, after truncation and the collision guard (None
        when K = 0), e.g. for
        `keras_clinclip.layers.negation_capacity_for(ds.negation_mask,
        batch_size, balanced=negations.balance)`.

    Example:
    >>> import tensorflow as tf
    >>> from keras_clinclip.data import synthetic_pairs
    >>> class Pre:
    ...     def tokenize(self, t):
    ...         ids = tf.strings.to_hash_bucket_fast(
    ...             tf.strings.split(t).to_tensor(shape=t.shape + [8]), 50)
    ...         return {"token_ids": tf.cast(ids, "int32"),
    ...                 "padding_mask": ids > 0}
    ...     def convert_images(self, x):
    ...         return tf.image.grayscale_to_rgb(x)
    >>> records = synthetic_pairs(4, image_size=32, graphs=False)
    >>> ds = make_dataset(records, Pre(), batch_size=2, image_size=32)
    >>> x, y = next(iter(ds))
    >>> tuple(x["images"].shape), tuple(y["labels"].shape)
    ((2, 32, 32, 3), (2, 14))
    """
    import tensorflow as tf

    negations = NegationOptions() if negations is None else negations
    options = PipelineOptions() if options is None else options
    num_negations = negations.count
    truncation = negations.truncation
    balance_negations = negations.balance
    negation_mask_input = negations.mask_input
    negation_families = negations.families
    seed, shuffle, start_step = (
        options.seed,
        options.shuffle,
        options.start_step,
    )
    shuffle_buffer, shard = options.shuffle_buffer, options.shard
    augment, augmentation = options.augment, options.augmentation
    drop_remainder, on_error = options.drop_remainder, options.on_error
    graphs, prefetch = options.graphs, options.prefetch
    num_parallel_calls, autotune = options.num_parallel_calls, options.autotune
    for method in ("tokenize", "convert_images"):
        if not callable(getattr(preprocessor, method, None)):
            raise TypeError(
                f"preprocessor must have a `{method}` method; got "
                f"{type(preprocessor).__name__}."
            )
    n = rec.validate_records(records)
    if split is not None:
        wanted = {split} if isinstance(split, str) else set(split)
        unknown = wanted - set(tables.SPLITS)
        if unknown:
            raise ValueError(
                f"Unknown split(s) {sorted(unknown)}; use {tables.SPLITS}."
            )
        records = rec.select(records, [s in wanted for s in records["split"]])
        n = len(records["id"])
    if n == 0:
        raise ValueError(f"No records in split {split!r}.")
    shuffle = training if shuffle is None else shuffle
    augment = training if augment is None else augment
    drop_remainder = training if drop_remainder is None else drop_remainder
    config = augment_lib.checked_config(augmentation)
    size = _image_size(preprocessor, image_size)
    log = ErrorLog()
    records = dict(records)
    if negation_families and records.get("negated_findings") is not None:
        records["negations"] = family_negations(
            records["report"], records["negated_findings"], negation_families
        )
    records["labels"] = np.asarray(records["labels"], np.float32)
    if records["labels"].shape != (n, rec.NUM_CLASSES):
        raise ValueError(
            f"records['labels'] must have shape ({n}, {rec.NUM_CLASSES}), "
            f"got {records['labels'].shape}."
        )
    keep = _check_rows(records, n, on_error, log)
    if num_negations is None:
        if records.get("negation_labels") is not None:
            num_negations = int(np.shape(records["negation_labels"])[1])
        elif records.get("negations") is not None:
            widths = [len(v) for v in records["negations"]]
            num_negations = max(widths + [1])
        else:
            num_negations = 0
    num_negations = int(num_negations)

    columns = {
        "row": np.arange(n, dtype=np.int64),
        "report": np.asarray([str(t) for t in records["report"]], object),
        "labels": records["labels"],
    }
    if num_negations:
        texts, mask, neg_labels = _pad_negations(records, num_negations, n)
        columns["negations"] = texts
        columns["negation_mask"] = mask
        columns["negation_labels"] = neg_labels
    graph_keys = ("graph_nodes", "graph_adjacency", "graph_node_mask")
    compact = records.get("graphs") if graphs else None
    if compact is not None:
        # Compact rows (`ReportGraphs`), made dense per batch.
        columns.update(_compact_graph_columns(compact))
    elif graphs and all(records.get(key) is not None for key in graph_keys):
        for key in graph_keys:
            columns[key] = np.asarray(records[key], np.float32)
    in_memory = "image" in records and records["image"] is not None
    if in_memory:
        pixels = np.asarray(records["image"])
        if pixels.ndim == 4 and pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        if pixels.ndim != 3:
            raise ValueError(
                "records['image'] must be (N, H, W) grayscale; got shape "
                f"{pixels.shape}."
            )
        columns["image"] = pixels
    else:
        paths = [str(p) for p in records["image_path"]]
    columns = {key: value[keep] for key, value in columns.items()}
    if len(columns["row"]) == 0:
        raise ValueError("Every record was skipped; see dataset.error_log.")
    if num_negations:
        if truncation == "negation_aware":
            trunc.truncate_columns(columns, preprocessor)
        trunc.guard_collisions(columns, preprocessor, records["id"], log)

    positions = np.arange(len(columns["row"]), dtype=np.int64)
    vocabulary = None
    if compact is not None:
        vocabulary = tf.constant(compact.vocabulary)
    if shard is not None:
        num_workers, index = shard
        positions = positions[int(index) :: int(num_workers)]
    rows = len(positions)
    parallel = num_parallel_calls or tf.data.AUTOTUNE
    counts = None
    if balance_negations and num_negations:
        counts = balance.slot_counts(columns["negation_mask"])[positions]

    def resize(image):
        image = tf.cast(image, tf.float32) / 255.0
        return tf.image.resize(image, (size, size), antialias=True)

    if in_memory:

        def decode(element):
            element = dict(element)
            element["image"] = resize(element["image"][..., None])
            element["ok"] = tf.constant(True)
            return element

    else:
        load = _resized_loader(
            strict_images.load_image_fn(paths, log, on_error, size), size
        )

        def decode(element):
            element = dict(element)
            image, ok, message = tf.numpy_function(
                load,
                [element["row"]],
                [tf.float32, tf.bool, tf.string],
                stateful=False,
            )
            if on_error == "raise":
                image = strict_images.stop_on_failure(tf, image, ok, message)
            element["image"] = tf.ensure_shape(image, [size, size, 1])
            element["ok"] = tf.ensure_shape(ok, [])
            return element

    def end_epoch(_):
        log.end_epoch()
        return np.bool_(False)

    def with_epoch_summary(ds):
        # After every element has been decoded, one sentinel element logs
        # the epoch's summary; it is then filtered out with the failures.
        spec = ds.element_spec

        def sentinel(_):
            dummy = {
                key: tf.zeros(
                    [d if d is not None else 1 for d in value.shape],
                    value.dtype,
                )
                for key, value in spec.items()
            }
            dummy["ok"] = tf.numpy_function(end_epoch, [0], tf.bool)
            dummy["ok"] = tf.ensure_shape(dummy["ok"], [])
            return dummy

        tail = tf.data.Dataset.range(1).map(sentinel)
        return ds.concatenate(tail).filter(lambda element: element["ok"])

    def to_model_inputs(element, batch_seed):
        images = element["image"]
        if augment:
            images = augment_lib.augment_batch(images, batch_seed, config, size)
        x = {"images": preprocessor.convert_images(images)}
        tokens = preprocessor.tokenize(element["report"])
        x["token_ids"] = tokens["token_ids"]
        x["padding_mask"] = tokens["padding_mask"]
        y = {"labels": element["labels"]}
        if num_negations:
            negs = preprocessor.tokenize(element["negations"])
            x["negation_token_ids"] = negs["token_ids"]
            x["negation_padding_mask"] = negs["padding_mask"]
            y["negation_mask"] = element["negation_mask"]
            if negation_mask_input:
                x["negation_mask"] = element["negation_mask"]
            y["negation_labels"] = element["negation_labels"]
        for key in graph_keys:
            if key in element:
                x[key] = element[key]
        if compact is not None:
            x.update(_dense_graphs(tf, element, vocabulary, compact.max_nodes))
        return x, y

    def one_pass(elements, batch_seeds):
        """Decode, batch and make model inputs of one pass of `elements`."""
        ds = elements.map(
            decode, num_parallel_calls=parallel, deterministic=True
        )
        if on_error == "skip" or log.masked_negations:
            ds = with_epoch_summary(ds)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        return tf.data.Dataset.zip((ds, batch_seeds)).map(
            to_model_inputs, num_parallel_calls=parallel, deterministic=True
        )

    def pass_elements(pass_seed):
        order = balance.pass_order(tf, positions, counts, pass_seed, shuffle)
        return tf.data.Dataset.from_tensor_slices(order).map(
            lambda i: {key: tf.gather(t, i) for key, t in table.items()}
        )

    if start_step is not None or counts is not None:
        table = {key: tf.constant(value) for key, value in columns.items()}
    if start_step is None and counts is None:
        # One pass; `shuffle` and `Dataset.random` draw new seeds from
        # their seed generators each time the dataset is iterated again.
        base = tf.data.Dataset.from_tensor_slices(columns)
        if shard is not None:
            base = base.shard(int(num_workers), int(index))
        if shuffle:
            buffer = shuffle_buffer or rows
            base = base.shuffle(
                buffer, seed=seed, reshuffle_each_iteration=True
            )
        ds = one_pass(
            base,
            tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True),
        )
    elif start_step is None:
        # One balanced pass, with a new pass seed at each iteration.
        random = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        )
        ds = one_pass(random.take(1).flat_map(pass_elements), random.skip(1))
    else:
        # With `on_error="raise"` every pass has the same number of
        # batches, so whole passes are skipped without being decoded.
        per_pass = None
        if on_error == "raise":
            per_pass = _num_batches(rows, batch_size, drop_remainder)
        if rows < batch_size and drop_remainder:
            raise ValueError(
                f"{rows} rows make no batch of {batch_size}: an endless "
                "stream (start_step) needs at least one batch per pass."
            )

        def data_pass(index):
            pass_seed = _pass_seed(tf, seed, index)
            batch_seeds = tf.data.Dataset.counter().map(
                lambda i: _pass_seed(tf, pass_seed, i + 1)
            )
            return one_pass(pass_elements(pass_seed), batch_seeds)

        ds = _endless(tf, data_pass, int(start_step), per_pass)
    if start_step is None and on_error == "raise":
        # A known length: Keras stops without reading past the end (see
        # `keras_compat.TF_END_OF_DATA_STEP`) or warning "ran out of data".
        length = _num_batches(rows, batch_size, drop_remainder)
        ds = ds.apply(tf.data.experimental.assert_cardinality(length))
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    tf_options = dataset_options(autotune=autotune)
    if shard is None:
        tf_options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
    ds = strict_images.raise_image_errors(ds.with_options(tf_options), log)
    ds.negation_mask = None
    if num_negations:
        ds.negation_mask = columns["negation_mask"][positions]
    return ds


def _resized_loader(load, size):
    """`load`, with its image resized to `(size, size, 1)` float32 in
    [0, 1] in the same call.

    Pillow's bilinear resize of the float image (mode "F") is the
    antialiased resize of `tf.image.resize(..., antialias=True)` (equal to
    about 1e-6) at a fraction of its cost (0.7 against 2.7 ms for a
    512-px image), and runs outside the GIL like the decode.
    """
    from PIL import Image

    def load_resized(row):
        image, ok, message = load(row)
        if not ok:
            return np.zeros((size, size, 1), np.float32), ok, message
        pixels = Image.fromarray(image[..., 0].astype(np.float32) / 255.0)
        if pixels.size != (size, size):
            pixels = pixels.resize((size, size), Image.BILINEAR)
        return np.asarray(pixels, np.float32)[..., None], ok, message

    return load_resized


def _compact_graph_columns(graphs):
    """The per-row arrays of a `ReportGraphs`, as pipeline columns."""
    return {
        "graph_node_ids": graphs.node_ids,
        "graph_adjacency_bits": graphs.adjacency_bits,
        "graph_mask_bits": graphs.mask_bits,
    }


def _dense_graphs(tf, element, vocabulary, max_nodes):
    """The model's graph inputs of a batch of compact graph columns."""
    nodes, adjacency, mask = dense_batch(
        tf,
        vocabulary,
        element["graph_node_ids"],
        element["graph_adjacency_bits"],
        element["graph_mask_bits"],
        max_nodes,
    )
    return {
        "graph_nodes": nodes,
        "graph_adjacency": adjacency,
        "graph_node_mask": mask,
    }


def _num_batches(rows, batch_size, drop_remainder):
    return rows // batch_size if drop_remainder else -(-rows // batch_size)


def _pass_seed(tf, seed, counter):
    """A seed in [0, 2**31 - 1): a pure function of `(seed, counter)`."""
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(counter, tf.int64)])
    return tf.random.stateless_uniform([], key, 0, 2**31 - 1, dtype=tf.int64)


def _endless(tf, data_pass, start_step, per_pass):
    """Passes 0, 1, ... of `data_pass(index)`, from global batch
    `start_step` on (whole passes skipped when `per_pass` is known)."""
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}.")
    first, offset = 0, start_step
    if per_pass:
        first, offset = divmod(start_step, per_pass)
    passes = tf.data.Dataset.counter(start=first)
    return passes.flat_map(data_pass).skip(offset)
