"""The staff console's pages and actions (the routes are in ``adapters/web.py``)."""
