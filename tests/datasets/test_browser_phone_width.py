"""At phone width the dataset pages fit the screen: wide tables scroll inside their box."""

from tests.conftest import PASSWORD
from tests.phone_width import seed_demo_users, sideways


def test_it_fits_dataset_pages_on_a_phone(new_page, transactional_db):
    from apps.datasets.models import Dataset

    users = seed_demo_users(PASSWORD)
    dataset = Dataset.objects.unscoped().get(name="support-tickets")
    page = new_page(users["bob"])
    base = f"/t/acme/datasets/{dataset.pk}"
    paths = ["/t/acme/datasets/", f"{base}/", f"{base}/revisions/1/"]
    for path in paths:
        assert page.goto(path).status == 200, path
    assert sideways(page, paths) == {}
