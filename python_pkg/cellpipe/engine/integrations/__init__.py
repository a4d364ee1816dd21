"""Edges to other tools: each module here turns what the store recorded into another
tool's records, and imports that tool only when asked (``mlflow``: MLflow tracking)."""
