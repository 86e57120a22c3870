"""keras_clinclip.evaluation."""
