"""Challenge cases and images: reading, validation, phantoms, real data shipped by PyPI packages."""
