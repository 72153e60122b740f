"""The collective itself: who it is, its demands, its key figures, its home page."""
