import pytest

from tests.factories import ProjectFactory


@pytest.fixture
def project(user):
    """alice's project with the labels ants and bees."""
    return ProjectFactory(owner=user, name="Ants or bees", labels=["ants", "bees"])
