"""keras_clinclip.losses."""
