"""Reports that leave the app: the PDF briefs, the scheduled digests and the alerts, and their command
(`python -m dashboard.reports`, which `retention report` and `retention digest` run)."""
