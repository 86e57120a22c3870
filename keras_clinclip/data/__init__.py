"""keras_clinclip.data."""
