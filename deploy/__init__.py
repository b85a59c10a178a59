"""Parts of the top-level ``deploy.py``: planning each host and printing the plan table."""
