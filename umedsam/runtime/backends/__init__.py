"""One file per backend; each is imported lazily through the format table (``umedsam.runtime.formats``)."""
