"""Widgets the console's screens share; each styles itself from the .tcss beside it."""
