"""The console's pages, a module per audience."""
