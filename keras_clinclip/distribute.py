"""Deprecated home of the cross-replica gather (kept for one release).

The gather moved to `keras_clinclip.backend.collectives`, beside the other
backend-specific code; this module only re-exports it. Import from the new
home: `from keras_clinclip.backend import collectives`.

Example:
>>> from keras_clinclip import distribute
>>> from keras_clinclip.backend import collectives
>>> distribute.all_gather is collectives.all_gather
True
"""

from keras_clinclip.backend.collectives import all_gather
from keras_clinclip.backend.collectives import num_replicas
from keras_clinclip.backend.collectives import replica_id
from keras_clinclip.backend.collectives import replica_offset

__all__ = ["all_gather", "num_replicas", "replica_id", "replica_offset"]
