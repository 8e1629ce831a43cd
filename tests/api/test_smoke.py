import pytest


@pytest.mark.django_db
def test_list_customers_envelope(api):
    response = api.get("/api/v1/customers/")
    assert response.status_code == 200
    assert response.json() == {"customers": [], "next": None, "previous": None}
