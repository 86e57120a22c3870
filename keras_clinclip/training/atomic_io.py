"""Atomic file writes: write to a temporary sibling, then rename.

The helpers live in `keras_clinclip.utils` (the bottom layer, so that
`reports.prepare` can use them too); this module keeps their old names
for a release, and the package itself imports `keras_clinclip.utils`.
"""

from keras_clinclip.utils import atomic_write  # noqa: F401
from keras_clinclip.utils import commit  # noqa: F401
from keras_clinclip.utils import temp_sibling  # noqa: F401
from keras_clinclip.utils import write_text_atomic  # noqa: F401
