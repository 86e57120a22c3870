"""keras_clinclip.layers."""
