"""The Litestar application: client API, admin API and admin pages."""
