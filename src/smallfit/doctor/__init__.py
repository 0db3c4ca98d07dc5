"""The data doctor: what in a labeled dataset deserves a look before (or after) a fit.

It only reads the data, and returns findings (findings.py) with suggestions. The checks
compare items in the space of space.py (a pretrained encoder's embeddings, or the items'
own features where there is no encoder, as for tables): exact and near duplicates, and
copies shared with a test set (leakage, which inflates test scores), in duplicates.py on
the distances of similarity.py; likely label errors (label_errors.py); a column that alone
gives the label away (leaky_columns.py); class imbalance and items far from every class
(classes.py). examination.py runs them all (or the cheap ones, for a fit's record);
pairs.py shows the duplicates side by side.
"""

from smallfit.doctor.classes import class_imbalance
from smallfit.doctor.duplicates import near_duplicates
from smallfit.doctor.examination import doctor, examine, fit_summary
from smallfit.doctor.findings import summary
from smallfit.doctor.label_errors import label_suspicion
from smallfit.doctor.pairs import write_pairs_html

__all__ = [
    "class_imbalance",
    "doctor",
    "examine",
    "fit_summary",
    "label_suspicion",
    "near_duplicates",
    "summary",
    "write_pairs_html",
]
