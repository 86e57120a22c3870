"""keras_clinclip.reports."""
