"""Provider price catalogs."""
