"""The Postgres adapter: psycopg 3 async + psycopg_pool, plain SQL, versioned migrations."""
