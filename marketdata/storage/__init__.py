"""Market data storage: a small interface (base.DataStorage) with local Parquet and S3 backends."""

from .base import DataStorage, StorageError
from .local import LocalStorage

__all__ = ["DataStorage", "LocalStorage", "S3Storage", "StorageError"]


def __getattr__(name):
    if name == "S3Storage":  # boto3 is imported only when S3 is used
        from .s3 import S3Storage

        return S3Storage
    raise AttributeError(name)
