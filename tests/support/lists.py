"""Named lists for the tests that work below the API: an organization's admin as a principal,
and a campaign list made and filled through the use cases."""

from uuid import uuid4

from domain.model import BulkItem, Principal
from domain.usecases.entries import bulk_add
from domain.usecases.lists import create_list
from infra.bootstrap import Resources
from tests.support.helpers import Org


def principal(org: Org) -> Principal:
    return Principal(org.admin_id, org.id, "admin", "full", uuid4())


async def campaign(resources: Resources, org: Org, name: str, *numbers: str) -> str:
    """A new named list holding ``numbers``; its id."""
    created = await create_list(resources.uow(), resources.mirror, org.id, org.admin_id, name, None)
    if numbers:
        items = [BulkItem(n) for n in numbers]
        await bulk_add(resources.uow(), resources.mirror, principal(org), items, created.id)
    return created.id
