"""Customer portal and public verify pages."""
