"""Session stores: one Protocol (``base``), one module per backend, ``open_store`` by URL."""
