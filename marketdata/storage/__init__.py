"""Market data storage: a small interface (base.DataStorage) with local Parquet and S3 backends."""
from .base import DataStorage, StorageError
from .local import LocalStorage

__all__ = ["DataStorage", "LocalStorage", "StorageError"]
