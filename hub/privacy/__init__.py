"""Personal information at the hub (PIPL): the blind index of ID numbers, the applicant's
access request and the retention policy (see docs/security.md, "Personal information")."""
