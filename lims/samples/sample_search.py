"""What the sample list (API and page) may be sorted by."""

from __future__ import annotations

from lims.kernel.models import Sample
from lims.sorting import Sorting

SAMPLE_SORTING = Sorting(
    columns={
        "sample_id": Sample.code,
        # The id, not the registered_at column: ids are handed out at registration, in its order,
        # and the list's (filter, id) indexes (ix_sample_state_id, ix_sample_owner_org_id_id, ...)
        # then serve the filter and the order in one scan, as they did before sorting.
        "registered_at": Sample.id,
        "state": Sample.state,
        "storage_location": Sample.storage_location,
    },
    tiebreak=Sample.id,
    default="-registered_at",
    lab_only=frozenset({"storage_location"}),
)
