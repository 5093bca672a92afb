"""The training worker: Celery app and tasks, datasets, the training loop (torch is imported lazily)."""
