"""User errors of the `clinclip` command (see `keras_clinclip.errors`).

Example:
>>> is_user_error(UserError("--preset 'x' does not exist"))
True
"""

from keras_clinclip.errors import UserError
from keras_clinclip.errors import is_disk_error
from keras_clinclip.errors import is_user_error
from keras_clinclip.errors import one_line

__all__ = ["UserError", "is_disk_error", "is_user_error", "one_line"]
