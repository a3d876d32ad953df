"""Theme files of ezpz-tui; installed as the package ``ezpz_tui.themes``.

One TOML file per theme (the fields of ``textual.theme.Theme``). A theme added
here appears in the console's command palette; see docs/console.md.
"""
