from marketdata.models import Dataset


def dataset_get(*, dataset_id: int) -> Dataset | None:
    return Dataset.objects.filter(id=dataset_id).first()
