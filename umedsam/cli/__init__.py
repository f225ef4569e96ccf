"""typer commands; each module is one command, ``main`` is the umbrella ``umedsam <cmd>``."""
