"""PDF custody and return reports: read-model dataclasses in, PDF bytes out.

reportlab is imported only here (and only by the report commands). The report builders arrive
with the reports issue; the package exists now so the layering test can hold it to its rules.
"""
