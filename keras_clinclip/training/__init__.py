"""Training: configuration, the main job (`clinclip demo`), train and export."""
