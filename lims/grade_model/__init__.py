"""The grade model as the LIMS shows it: predictions API and model pages."""
