"""Textual-free chart core: downsampling, smoothing, viewport and braille rendering."""
