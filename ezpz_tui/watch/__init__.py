"""Textual-free models behind the console's log panes: line index, rows, collapse, search."""
