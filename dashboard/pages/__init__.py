"""Dashboard pages; Dash imports each module and it registers itself."""
