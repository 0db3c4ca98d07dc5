"""`smallfit app`: the local web app (server, workspace of projects, fits, page)."""
